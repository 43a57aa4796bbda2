"""Native TLS: the server context and reloading its certificate without a restart.

The context accepts TLS 1.2 and 1.3 only, with forward-secret AEAD suites for TLS 1.2
(TLS 1.3's suites are all AEAD), no compression and no renegotiation. TLS 1.2 is the
floor AWS holds its own API endpoints to
(https://aws.amazon.com/blogs/security/tls-1-2-required-for-aws-endpoints/).

``CertificateReloader.reload()`` (run on ``SIGHUP``) loads the certificate chain and key
from the same paths into the live context: connections already open keep their session,
every handshake after it presents the new certificate, and the listener never closes. A
pair that does not load (missing file, key that does not match) is refused with an error
in the log and the previous one stays in use.
"""

from __future__ import annotations

import logging
import ssl
import threading

log = logging.getLogger("tessera.tls")

TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def server_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A server context for the PEM certificate chain and key (raises ``ssl.SSLError``
    or ``OSError`` when they do not load)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_RENEGOTIATION
    context.load_cert_chain(cert_file, key_file)
    return context


class CertificateReloader:
    def __init__(self, cert_file: str, key_file: str) -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        self.context = server_context(cert_file, key_file)
        self._lock = threading.Lock()

    def reload(self) -> bool:
        """Load the files again into the live context; ``False`` (and the old pair kept)
        when they do not load."""
        with self._lock:
            try:
                server_context(self.cert_file, self.key_file)  # check the pair on a scratch context first
                self.context.load_cert_chain(self.cert_file, self.key_file)
            except (OSError, ssl.SSLError) as error:
                log.error("TLS certificate not reloaded, the previous one stays in use: %s", error)
                return False
        log.info("TLS certificate reloaded from %s", self.cert_file)
        return True

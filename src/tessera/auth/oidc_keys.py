"""The signing keys of OpenID Connect providers: discovery, JWKS, TLS trust, caching.

For an issuer ``https://HOST[:PORT]/PATH`` the keys are found as AWS finds them
(https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_create_oidc_verify-thumbprint.html):
``ISSUER/.well-known/openid-configuration`` names the ``jwks_uri``, fetched over HTTPS.
A server is trusted when the chain it presents verifies, for its host name, against the
system's CA certificates (plus ``OidcSettings.extra_ca_file``), or when the SHA-1
thumbprint of the last certificate it presents (the top intermediate or the root) is one
of the provider's ``ThumbprintList`` and the rest of the chain verifies up to that
certificate for the host name.

Fetching is blocking I/O: callers run it off the event loop; ``OidcKeys.cached``, which
never fetches, waits or raises, is what the event loop may ask. Each document is read
within ``timeout`` seconds and at most ``max_document_bytes``. Keys are cached per
issuer and thumbprint list for the JWKS response's ``Cache-Control: max-age`` (bounded
by ``min_ttl``/``max_ttl``; ``default_ttl`` without one). A token naming a key the cache
lacks causes one refetch, and refetches (failed fetches too) of one issuer are at most
one per ``refetch_interval`` seconds, so a flood of tokens with unknown ``kid``\\s costs
the identity provider one request pair per interval.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.client
import io
import ipaddress
import json
import logging
import re
import select
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import DNSName, IPAddress
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    ServerVerifier,
    Store,
    VerificationError,
)
from OpenSSL import SSL

from tessera.errors import IDPCommunicationErrorException, InvalidIdentityTokenException

__all__ = ["DEFAULT_REFETCH_SECONDS", "THUMBPRINT_MISMATCH", "OidcKeys", "OidcSettings", "discovery_url", "thumbprint"]

log = logging.getLogger("tessera.oidc")

THUMBPRINT_MISMATCH = "OpenIDConnect provider's HTTPS certificate doesn't match configured thumbprint"
# how a server was trusted, named as CloudTrail's identityProviderConnectionVerificationMethod
TRUST_STORE = "IAMTrustStore"
THUMBPRINT = "Thumbprint"
_T = TypeVar("_T")
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----")
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d{1,10})\s*(?:,|$)", re.IGNORECASE)
_HEADER_ALLOWANCE = 64 * 1024


DEFAULT_REFETCH_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class OidcSettings:
    extra_ca_file: str | None = None  # PEM CA certificates trusted besides the system's
    refetch_interval: float = DEFAULT_REFETCH_SECONDS  # seconds between two fetches of one issuer's keys, at least
    timeout: float = 5.0  # seconds for connecting, the TLS handshake and each document
    max_document_bytes: int = 512 * 1024
    default_ttl: float = 3600.0
    min_ttl: float = 60.0
    max_ttl: float = 86400.0


@dataclass
class _Entry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    keys: list[Mapping[str, Any]] | None = None
    expires: float = 0.0  # monotonic
    attempted: float | None = None  # monotonic time of the last fetch
    failure: Exception | None = None  # of that fetch
    method: str | None = None  # how the server of the keys held was trusted (``TRUST_STORE``, ``THUMBPRINT``)


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def thumbprint(certificate: x509.Certificate) -> str:
    """A certificate's thumbprint as IAM stores it: lower-case hex SHA-1 of its DER."""
    return hashlib.sha1(certificate.public_bytes(Encoding.DER), usedforsecurity=False).hexdigest()


class OidcKeys:
    """The keys of every issuer a registered provider names, fetched on demand."""

    def __init__(self, settings: OidcSettings | None = None, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings or OidcSettings()
        self._monotonic = monotonic
        self._entries: dict[tuple[str, tuple[str, ...]], _Entry] = {}
        self._entries_lock = threading.Lock()
        self._store: Store | None = None

    def keys(self, issuer: str, thumbprints: Iterable[str], kid: str | None, now: dt.datetime) -> list[Mapping[str, Any]]:
        """The issuer's published JWKs, refetched once when ``kid`` is not among them
        (within the rate limit). Raises IDPCommunicationError when they cannot be
        fetched, InvalidIdentityToken when the server is not trusted."""
        prints = _prints(thumbprints)
        with self._entries_lock:
            entry = self._entries.setdefault((issuer, prints), _Entry())
        at_hand = self._at_hand(entry, kid)
        if at_hand is not None:
            return at_hand  # the common case: no lock taken, nothing fetched
        keys = entry.keys
        if not entry.lock.acquire(blocking=keys is None):
            # another request is fetching this issuer's keys: answer from the keys at hand
            # rather than hold a worker thread for as long as the issuer takes
            assert keys is not None  # INVARIANT: a blocking acquire without timeout succeeds
            return keys
        try:
            return self._refresh(entry, issuer, prints, kid, now)
        finally:
            entry.lock.release()

    def cached(self, issuer: str, thumbprints: Iterable[str], kid: str | None) -> list[Mapping[str, Any]] | None:
        """What ``keys`` answers without fetching, waiting or raising: the cached keys
        when they are fresh and hold ``kid``, when a refetch is not allowed yet (the
        refetch limit: the caller then finds no key for an unknown ``kid``) or while
        another request fetches; else None (``keys`` must be called, off the event
        loop). Takes no lock: it may run on the event loop."""
        entry = self._entries.get((issuer, _prints(thumbprints)))
        return None if entry is None else self._at_hand(entry, kid)

    def _at_hand(self, entry: _Entry, kid: str | None) -> list[Mapping[str, Any]] | None:
        """The keys that answer for ``kid`` with no fetch: fresh ones holding it, or
        any held within the refetch limit or while a fetch is under way; None when a
        fetch is due."""
        keys = entry.keys
        if keys is None:
            return None
        clock = self._monotonic()
        if clock < entry.expires and _has(keys, kid):
            return keys
        attempted = entry.attempted
        if (attempted is not None and clock - attempted < self.settings.refetch_interval) or entry.lock.locked():
            return keys
        return None

    def verification_method(self, issuer: str, thumbprints: Iterable[str]) -> str | None:
        """How the server of the issuer's cached keys was trusted: ``TRUST_STORE`` (its
        chain verified against the CA certificates) or ``THUMBPRINT`` (the provider's
        ThumbprintList); None when no keys are cached."""
        prints = tuple(sorted({p.lower() for p in thumbprints}))
        with self._entries_lock:
            entry = self._entries.get((issuer, prints))
        return entry.method if entry is not None and entry.keys is not None else None

    def _refresh(self, entry: _Entry, issuer: str, prints: Sequence[str], kid: str | None, now: dt.datetime) -> list[Mapping[str, Any]]:
        """Under ``entry.lock``: the cached keys, or freshly fetched ones when they are stale
        or lack ``kid`` and the refetch limit allows."""
        clock = self._monotonic()
        fresh = entry.keys is not None and clock < entry.expires
        if fresh and entry.keys is not None and _has(entry.keys, kid):
            return entry.keys
        if entry.attempted is not None and clock - entry.attempted < self.settings.refetch_interval:
            if entry.keys is not None:
                return entry.keys  # the caller finds no key for ``kid``: InvalidIdentityToken
            if entry.failure is not None:
                raise entry.failure
        entry.attempted = clock
        try:
            keys, ttl, method = self._fetch(issuer, prints, now)
        except (IDPCommunicationErrorException, InvalidIdentityTokenException) as error:
            entry.failure = error
            raise
        except Exception:  # a defect, not the issuer's doing: logged, and answered as unreachable
            log.exception("fetching the keys of %s failed", issuer[:256])
            entry.failure = IDPCommunicationErrorException(f"The keys of the identity provider {issuer[:256]} could not be fetched.")
            raise entry.failure from None
        entry.keys, entry.expires, entry.failure, entry.method = keys, clock + ttl, None, method
        return keys

    # -- fetching -------------------------------------------------------------------------
    def _fetch(self, issuer: str, prints: Sequence[str], now: dt.datetime) -> tuple[list[Mapping[str, Any]], float, str]:
        """The keys, how long to keep them, and how the server of the JWKS was trusted."""
        config, _, _ = self._get_json(discovery_url(issuer), prints, now)
        jwks_uri = config.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith("https://"):
            raise IDPCommunicationErrorException(f"The OpenID configuration of {issuer} names no HTTPS jwks_uri.")
        document, cache_control, method = self._get_json(jwks_uri, prints, now)
        keys = document.get("keys")
        if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
            raise IDPCommunicationErrorException(f"The JWKS of {issuer} is not a JSON Web Key Set.")
        return keys, self._ttl(cache_control), method

    def _ttl(self, cache_control: str) -> float:
        s = self.settings
        lowered = cache_control.lower()
        if "no-store" in lowered or "no-cache" in lowered:
            return s.min_ttl
        found = _MAX_AGE.search(cache_control)
        if found is None:
            return s.default_ttl
        return min(max(float(found.group(1)), s.min_ttl), s.max_ttl)

    def _get_json(self, url: str, prints: Sequence[str], now: dt.datetime) -> tuple[dict[str, Any], str, str]:
        status, headers, body, method = self._get(url, prints, now)
        if status != 200:
            raise IDPCommunicationErrorException(f"The identity provider answered HTTP {status} for {_shown(url)}.")
        try:
            document = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise IDPCommunicationErrorException(f"The identity provider's {_shown(url)} is not JSON.") from None
        if not isinstance(document, dict):
            raise IDPCommunicationErrorException(f"The identity provider's {_shown(url)} is not a JSON object.")
        return document, headers.get("cache-control", ""), method

    def _get(self, url: str, prints: Sequence[str], now: dt.datetime) -> tuple[int, dict[str, str], bytes, str]:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise IDPCommunicationErrorException(f"{_shown(url)} is not an HTTPS URL.")
        host, port = parts.hostname, parts.port or 443
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        deadline = self._monotonic() + self.settings.timeout
        try:
            sock = socket.create_connection((host, port), timeout=self.settings.timeout)
        except OSError as error:
            raise _unreachable(host, port, "could not be reached", error) from None
        try:
            sock.setblocking(False)
            conn = SSL.Connection(self._context(), sock)
            if not _is_ip(host):
                conn.set_tlsext_host_name(host.encode("idna"))
            conn.set_connect_state()
            self._io(conn, sock, conn.do_handshake, deadline)
            chain = conn.get_peer_cert_chain(as_cryptography=True) or []
            method = self._trust(chain, host, prints, now)
            request = (
                f"GET {target} HTTP/1.1\r\nHost: {parts.netloc.rpartition('@')[2]}\r\n"
                "Accept: application/json\r\nConnection: close\r\nUser-Agent: tessera-oidc\r\n\r\n"
            ).encode("ascii")
            self._io(conn, sock, lambda: conn.sendall(request), deadline)
            raw = self._read_all(conn, sock, deadline)
        except SSL.Error as error:
            raise _unreachable(host, port, "failed the TLS handshake", error) from None
        except OSError as error:
            raise _unreachable(host, port, "could not be read", error) from None
        finally:
            sock.close()
        return (*_parse_response(raw, self.settings.max_document_bytes, url), method)

    def _read_all(self, conn: SSL.Connection, sock: socket.socket, deadline: float) -> bytes:
        limit = self.settings.max_document_bytes + _HEADER_ALLOWANCE
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                chunk = self._io(conn, sock, lambda: conn.recv(65536), deadline)
            except (SSL.ZeroReturnError, SSL.SysCallError):
                break  # closed (cleanly, or without close_notify as many servers do)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise IDPCommunicationErrorException(f"The identity provider's answer exceeds {self.settings.max_document_bytes} bytes.")
            chunks.append(chunk)
        return b"".join(chunks)

    def _io(self, conn: SSL.Connection, sock: socket.socket, step: Callable[[], _T], deadline: float) -> _T:
        """``step()`` on the non-blocking connection, waiting for the socket until ``deadline``."""
        while True:
            try:
                return step()
            except SSL.WantReadError:
                readable, writable = [sock], []
            except SSL.WantWriteError:
                readable, writable = [], [sock]
            remaining = deadline - self._monotonic()
            if remaining <= 0 or not any(select.select(readable, writable, [], remaining)):
                raise IDPCommunicationErrorException(f"The identity provider did not answer within {self.settings.timeout:g} seconds.")

    def _context(self) -> SSL.Context:
        context = SSL.Context(SSL.TLS_CLIENT_METHOD)
        context.set_min_proto_version(SSL.TLS1_2_VERSION)
        context.set_verify(SSL.VERIFY_NONE)  # the chain is verified by ``_trust``, by AWS's rule
        return context

    # -- trust ------------------------------------------------------------------------------
    def _trust(self, chain: Sequence[x509.Certificate], host: str, prints: Sequence[str], now: dt.datetime) -> str:
        """``TRUST_STORE`` or ``THUMBPRINT``: how the server is trusted; InvalidIdentityToken if not."""
        if not chain:
            raise InvalidIdentityTokenException(THUMBPRINT_MISMATCH)
        leaf, intermediates = chain[0], list(chain[1:])
        subject: DNSName | IPAddress = IPAddress(ipaddress.ip_address(host)) if _is_ip(host) else DNSName(host)
        when = now.astimezone(dt.UTC).replace(tzinfo=None)
        try:
            _verifier(self._ca_store(), subject, when).verify(leaf, intermediates)
            return TRUST_STORE
        except VerificationError:
            pass
        top = chain[-1]
        if thumbprint(top) not in prints:
            raise InvalidIdentityTokenException(THUMBPRINT_MISMATCH)
        if len(chain) == 1:
            return THUMBPRINT  # the pinned certificate is the server's own
        try:
            _verifier(Store([top]), subject, when).verify(leaf, intermediates[:-1])
        except VerificationError:
            raise InvalidIdentityTokenException(THUMBPRINT_MISMATCH) from None
        return THUMBPRINT

    def _ca_store(self) -> Store:
        store = self._store
        if store is None:
            paths = ssl.get_default_verify_paths()
            files = [p for p in (paths.cafile, paths.openssl_cafile) if p]
            certificates = _load_pems(next((Path(p) for p in files if Path(p).is_file()), None))
            if self.settings.extra_ca_file:
                certificates += _load_pems(Path(self.settings.extra_ca_file))
            store = self._store = Store(certificates)
        return store


def _server_auth(policy: Policy, certificate: x509.Certificate, usage: x509.ExtendedKeyUsage | None) -> None:
    if usage is not None and ExtendedKeyUsageOID.SERVER_AUTH not in usage and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in usage:
        raise ValueError("the certificate is not for TLS servers")


# RFC 5280 profile of the Web PKI, except that the server certificate's subjectAltName
# and extendedKeyUsage may be marked critical (OpenSSL accepts it, and so do common
# private CAs); the name must still match and the usage must still include serverAuth.
_SERVER_POLICY = (
    ExtensionPolicy.webpki_defaults_ee()
    .require_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
    .may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _server_auth)
)


def _verifier(store: Store, subject: DNSName | IPAddress, when: dt.datetime) -> ServerVerifier:
    builder = PolicyBuilder().store(store).time(when)
    builder = builder.extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=_SERVER_POLICY)
    return builder.build_server_verifier(subject)


def _load_pems(path: Path | None) -> list[x509.Certificate]:
    if path is None:
        return []
    found = []
    for block in _PEM.findall(path.read_bytes()):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a few system roots have non-positive serials
                found.append(x509.load_pem_x509_certificate(block))
        except ValueError:
            log.warning("skipping a CA certificate of %s that does not load", path)
    return found


class _Received:
    """What ``http.client.HTTPResponse`` reads: the bytes already received."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, mode: str) -> io.BytesIO:
        return io.BytesIO(self._data)


def _parse_response(raw: bytes, limit: int, url: str) -> tuple[int, dict[str, str], bytes]:
    response = http.client.HTTPResponse(_Received(raw))  # type: ignore[arg-type]
    try:
        response.begin()
        body = response.read(limit + 1)
    except (http.client.HTTPException, ValueError):
        raise IDPCommunicationErrorException(f"The identity provider's answer for {_shown(url)} is not valid HTTP.") from None
    if len(body) > limit:
        raise IDPCommunicationErrorException(f"The identity provider's answer exceeds {limit} bytes.")
    headers = {name.lower(): value for name, value in response.getheaders()}
    return response.status, headers, body


def _prints(thumbprints: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({p.lower() for p in thumbprints}))


def _has(keys: Sequence[Mapping[str, Any]], kid: str | None) -> bool:
    return bool(keys) if kid is None else any(k.get("kid") == kid for k in keys)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _shown(url: str) -> str:
    return url[:256]


def _unreachable(host: str, port: int, what: str, error: BaseException) -> IDPCommunicationErrorException:
    reason = (str(error) or type(error).__name__)[:200]
    return IDPCommunicationErrorException(f"The identity provider at {host}:{port} {what}: {reason}.")

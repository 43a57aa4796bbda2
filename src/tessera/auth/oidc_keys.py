"""The signing keys of OpenID Connect providers: discovery, JWKS, TLS trust, caching.

For an issuer ``https://HOST[:PORT]/PATH`` the keys are found as AWS finds them
(https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_create_oidc_verify-thumbprint.html):
``ISSUER/.well-known/openid-configuration`` names the ``jwks_uri``, fetched over HTTPS.
A server is trusted when the chain it presents verifies, for its host name, against the
system's CA certificates (plus ``OidcSettings.extra_ca_file``), or when the SHA-1
thumbprint of the last certificate it presents (the top intermediate or the root) is one
of the provider's ``ThumbprintList`` and the rest of the chain verifies up to that
certificate for the host name.

Fetching is blocking I/O: callers run it off the event loop, on the server's worker
threads; ``OidcKeys.cached``, which never fetches, waits, blocks on a fetch or raises, is
what the event loop may ask (it answers only unexpired keys). Fetches are bounded so that no issuer, however slow, can hold those threads:
one fetch (the discovery document, then the JWKS) is given ``timeout`` seconds in all,
name resolution, connecting to each address, TLS and reading both documents included,
and each document is at most ``max_document_bytes``; at most one fetch per issuer and
``max_fetches`` across issuers are in flight (a request that would start another gets
IDPCommunicationError at once); a request finding no cached keys while another fetches
them waits at most ``wait`` seconds, and at most ``max_waiters`` requests wait at once
(the others get IDPCommunicationError at once). With ``allow_private`` off, only public
unicast addresses are connected to (an issuer or ``jwks_uri`` resolving to loopback,
private, link-local or reserved addresses only is unreachable). A client is told only
``UNREACHABLE``, whatever failed; the details are logged. Name resolution (``getaddrinfo``)
cannot be interrupted: it runs on a thread of its own, which the fetch abandons at the
deadline; at most ``max_resolutions`` such threads run at once. Keys are cached per
issuer (at most ``max_issuers``, the least recently used dropped first) for the JWKS
response's ``Cache-Control: max-age`` (bounded by ``min_ttl``/``max_ttl``;
``default_ttl`` without one), with what the servers they came from proved (a CA-verified
chain, the thumbprint they may be pinned by): each request decides trust with its own
provider's ``ThumbprintList``, so providers of one issuer share one fetch and one
refetch limit. A token naming a key the cache
lacks causes one refetch, and refetches (failed fetches too) of one issuer are at most
one per ``refetch_interval`` seconds, so a flood of tokens with unknown ``kid``\\s costs
the identity provider one request pair per interval. Keys are never used past their
expiry (no grace): while the issuer cannot be reached, tokens it signed are refused
IDPCommunicationError once its cached keys expire (keys live at least
``refetch_interval`` seconds, so they never expire while a refetch is still refused).
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

from tessera.cache import LRU
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
UNREACHABLE = (
    "The identity provider could not be reached to verify the token. "
    "This is often transient: retry a limited number of times; if it persists, the identity provider may be down."
)
"""What a client is told whenever an issuer's keys cannot be fetched: never the host,
port, address or the operating system's or TLS library's reason, which would make the
server a port scanner for anyone (the details go to the server's log)."""


@dataclass(frozen=True, slots=True)
class OidcSettings:
    extra_ca_file: str | None = None  # PEM CA certificates trusted besides the system's
    refetch_interval: float = DEFAULT_REFETCH_SECONDS  # seconds between two fetches of one issuer's keys, at least
    timeout: float = 5.0  # seconds for one fetch: resolving, connecting, TLS, both documents
    wait: float = 2.0  # seconds a request without cached keys waits for another's fetch of them
    max_fetches: int = 2  # fetches in flight at once, across issuers
    max_waiters: int = 2  # requests waiting at once for another request's fetch
    max_resolutions: int = 4  # name resolutions running at once (abandoned ones included)
    allow_private: bool = True  # fetch from loopback, private, link-local and other non-public addresses
    max_issuers: int = 1024  # issuers whose keys are cached (least recently used dropped first)
    max_document_bytes: int = 512 * 1024
    default_ttl: float = 3600.0
    min_ttl: float = 60.0
    max_ttl: float = 86400.0


@dataclass(frozen=True, slots=True)
class _Trust:
    """What one TLS server proved of itself when a document was fetched from it."""

    ca: bool  # its chain verifies, for its host name, against the trusted CAs
    pinned: str | None  # the thumbprint of its top certificate, when the rest verifies up to it for its host name

    def allows(self, prints: frozenset[str]) -> bool:
        return self.ca or (self.pinned is not None and self.pinned in prints)

    def method(self, prints: frozenset[str]) -> str | None:
        """How a provider with ``prints`` trusts this server: ``TRUST_STORE`` when a CA
        verifies it (its thumbprints then play no part), ``THUMBPRINT`` when one of them
        pins it, None when neither."""
        if self.ca:
            return TRUST_STORE
        return THUMBPRINT if self.pinned is not None and self.pinned in prints else None


@dataclass(frozen=True, slots=True)
class _Fetched:
    keys: list[Mapping[str, Any]]
    trust: tuple[_Trust, ...]  # of the servers of the discovery document and the JWKS


@dataclass
class _Entry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    fetched: _Fetched | None = None
    expires: float = 0.0  # monotonic
    attempted: float | None = None  # monotonic time of the last fetch
    failure: Exception | None = None  # of that fetch


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
        self._entries: LRU[str, _Entry] = LRU(self.settings.max_issuers)
        self._entries_lock = threading.Lock()
        self._store: Store | None = None
        s = self.settings
        self._fetches = threading.BoundedSemaphore(s.max_fetches)
        self._waiters = threading.BoundedSemaphore(s.max_waiters)
        self._resolutions = threading.BoundedSemaphore(s.max_resolutions)

    def keys(self, issuer: str, thumbprints: Iterable[str], kid: str | None, now: dt.datetime) -> list[Mapping[str, Any]]:
        """The issuer's published JWKs, refetched once when ``kid`` is not among them
        (within the rate limit). Raises IDPCommunicationError when they cannot be
        fetched, InvalidIdentityToken when the servers they came from are trusted
        neither by a CA nor by one of ``thumbprints``."""
        return _trusted(self._fetched(issuer, kid, now), _lowered(thumbprints))

    def _fetched(self, issuer: str, kid: str | None, now: dt.datetime) -> _Fetched:
        with self._entries_lock:
            entry = self._entries.get(issuer)
            if entry is None:
                entry = _Entry()
                self._entries.put(issuer, entry)
        fetched = entry.fetched
        if fetched is not None and self._monotonic() < entry.expires and _has(fetched.keys, kid):
            return fetched  # the common case: no lock taken
        if not entry.lock.acquire(blocking=False):
            # another request is fetching this issuer's keys: answer from the keys at hand,
            # if they have not expired, rather than hold a worker thread for as long as the
            # issuer takes
            if fetched is not None and self._monotonic() < entry.expires:
                return fetched
            if not self._wait_for_fetch(entry):
                log.info("the keys of %s are being fetched by another request; refused after waiting", issuer[:256])
                raise IDPCommunicationErrorException(UNREACHABLE)
        try:
            return self._refresh(entry, issuer, kid, now)
        finally:
            entry.lock.release()

    def cached(self, issuer: str, thumbprints: Iterable[str], kid: str | None) -> list[Mapping[str, Any]] | None:
        """What ``keys`` answers without fetching, waiting or raising: the issuer's
        unexpired keys, when the servers they came from are trusted by a CA or one of
        ``thumbprints`` and the keys hold ``kid``, or (the caller then finds no key for
        an unknown ``kid``) while a refetch is not allowed yet or another request
        fetches; else None (``keys`` must be called, off the event loop). Never takes a
        fetch lock (only the cache map's own, held for a dictionary look-up): it may run
        on the event loop."""
        entry = self._entries.get(issuer)
        if entry is None:
            return None
        # ``expires`` is read before ``fetched`` (``_refresh`` writes them in the other
        # order), so a concurrent refresh can pair newer keys with an older expiry, never
        # older keys with a newer one
        expires = entry.expires
        fetched = entry.fetched
        clock = self._monotonic()
        if fetched is None or clock >= expires:
            return None  # a fetch is due, or ``keys`` raises (expired keys are never served)
        prints = _lowered(thumbprints)
        if not all(t.allows(prints) for t in fetched.trust):
            return None  # ``keys`` raises InvalidIdentityToken
        if _has(fetched.keys, kid):
            return fetched.keys
        attempted = entry.attempted
        if (attempted is not None and clock - attempted < self.settings.refetch_interval) or entry.lock.locked():
            return fetched.keys
        return None

    def verification_method(self, issuer: str, thumbprints: Iterable[str]) -> str | None:
        """How a provider with ``thumbprints`` trusts the servers of the issuer's cached
        keys: ``TRUST_STORE`` when a CA verified each of them, else ``THUMBPRINT`` when
        each is trusted by a CA or one of ``thumbprints``; None when no keys are cached
        (or they are not trusted)."""
        entry = self._entries.get(issuer)
        fetched = entry.fetched if entry is not None else None
        if fetched is None:
            return None
        prints = _lowered(thumbprints)
        methods = {t.method(prints) for t in fetched.trust}
        if None in methods:
            return None
        return THUMBPRINT if THUMBPRINT in methods else TRUST_STORE

    def _wait_for_fetch(self, entry: _Entry) -> bool:
        """Whether ``entry.lock`` was acquired within ``wait`` seconds, by one of at most
        ``max_waiters`` requests waiting at once."""
        if not self._waiters.acquire(blocking=False):
            return False
        try:
            return entry.lock.acquire(timeout=self.settings.wait)
        finally:
            self._waiters.release()

    def _refresh(self, entry: _Entry, issuer: str, kid: str | None, now: dt.datetime) -> _Fetched:
        """Under ``entry.lock``: the cached keys, or freshly fetched ones when they are stale
        or lack ``kid`` and the refetch limit allows."""
        clock = self._monotonic()
        fetched = entry.fetched if clock < entry.expires else None
        if fetched is not None and _has(fetched.keys, kid):
            return fetched
        if entry.attempted is not None and clock - entry.attempted < self.settings.refetch_interval:
            if fetched is not None:
                return fetched  # the caller finds no key for ``kid``: InvalidIdentityToken
            if entry.failure is not None:
                raise entry.failure  # expired keys are never served, reachable issuer or not
        if not self._fetches.acquire(blocking=False):
            if fetched is not None:
                return fetched
            log.info("not fetching the keys of %s: %d fetches in flight", issuer[:256], self.settings.max_fetches)
            raise IDPCommunicationErrorException(UNREACHABLE)
        entry.attempted = clock
        try:
            fetched, ttl = self._fetch(issuer, now)
        except IDPCommunicationErrorException as error:
            log.warning("fetching the keys of %s failed: %s", issuer[:256], error.message)
            entry.failure = IDPCommunicationErrorException(UNREACHABLE)
            raise entry.failure from None
        except Exception:  # a defect, not the issuer's doing: logged, and answered as unreachable
            log.exception("fetching the keys of %s failed", issuer[:256])
            entry.failure = IDPCommunicationErrorException(UNREACHABLE)
            raise entry.failure from None
        finally:
            self._fetches.release()
        # keys live at least until the next fetch is allowed, so they are never expired
        # while a refetch is still refused
        entry.fetched, entry.expires, entry.failure = fetched, clock + max(ttl, self.settings.refetch_interval), None
        return fetched

    # -- fetching -------------------------------------------------------------------------
    def _fetch(self, issuer: str, now: dt.datetime) -> tuple[_Fetched, float]:
        deadline = self._monotonic() + self.settings.timeout
        config, _, config_trust = self._get_json(discovery_url(issuer), now, deadline)
        jwks_uri = config.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith("https://"):
            raise IDPCommunicationErrorException(f"The OpenID configuration of {issuer} names no HTTPS jwks_uri.")
        document, cache_control, jwks_trust = self._get_json(jwks_uri, now, deadline)
        keys = document.get("keys")
        if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
            raise IDPCommunicationErrorException(f"The JWKS of {issuer} is not a JSON Web Key Set.")
        return _Fetched(keys, (config_trust, jwks_trust)), self._ttl(cache_control)

    def _ttl(self, cache_control: str) -> float:
        s = self.settings
        lowered = cache_control.lower()
        if "no-store" in lowered or "no-cache" in lowered:
            return s.min_ttl
        found = _MAX_AGE.search(cache_control)
        if found is None:
            return s.default_ttl
        return min(max(float(found.group(1)), s.min_ttl), s.max_ttl)

    def _get_json(self, url: str, now: dt.datetime, deadline: float) -> tuple[dict[str, Any], str, _Trust]:
        (status, headers, body), trust = self._get(url, now, deadline)
        if status != 200:
            raise IDPCommunicationErrorException(f"The identity provider answered HTTP {status} for {_shown(url)}.")
        try:
            document = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise IDPCommunicationErrorException(f"The identity provider's {_shown(url)} is not JSON.") from None
        if not isinstance(document, dict):
            raise IDPCommunicationErrorException(f"The identity provider's {_shown(url)} is not a JSON object.")
        return document, headers.get("cache-control", ""), trust

    def _get(self, url: str, now: dt.datetime, deadline: float) -> tuple[tuple[int, dict[str, str], bytes], _Trust]:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise IDPCommunicationErrorException(f"{_shown(url)} is not an HTTPS URL.")
        host, port = parts.hostname, parts.port or 443
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        sock = self._connect(host, port, deadline)
        try:
            sock.setblocking(False)
            conn = SSL.Connection(self._context(), sock)
            if not _is_ip(host):
                conn.set_tlsext_host_name(host.encode("idna"))
            conn.set_connect_state()
            self._io(conn, sock, conn.do_handshake, deadline)
            chain = conn.get_peer_cert_chain(as_cryptography=True) or []
            trust = self._assess(chain, host, now)
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
        return _parse_response(raw, self.settings.max_document_bytes, url), trust

    def _connect(self, host: str, port: int, deadline: float) -> socket.socket:
        """A TCP connection to one of ``host``'s addresses, tried in turn, all within ``deadline``."""
        error: BaseException | None = None
        addresses = self._resolve(host, port, deadline)
        if not self.settings.allow_private:
            refused = [a for a in addresses if not _public(a[4][0])]
            addresses = [a for a in addresses if _public(a[4][0])]
            if refused and not addresses:
                shown = refused[0][4][0]
                raise IDPCommunicationErrorException(f"{host} resolves only to non-public addresses ({shown}), which are not allowed")
        for family, kind, proto, _, address in addresses:
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                break
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(remaining)
                sock.connect(address)
                return sock
            except OSError as failed:
                sock.close()
                error = failed
        if error is None:
            raise self._timed_out()
        raise _unreachable(host, port, "could not be reached", error)

    def _resolve(self, host: str, port: int, deadline: float) -> list[tuple[Any, ...]]:
        """``getaddrinfo``, given up at ``deadline``: it runs on a thread of its own, since
        it cannot be interrupted (one of at most ``max_resolutions`` at once)."""
        if _is_ip(host):
            return list(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST))
        if not self._resolutions.acquire(blocking=False):
            raise IDPCommunicationErrorException(f"not resolving {host}: {self.settings.max_resolutions} name resolutions already running")
        found: list[list[tuple[Any, ...]]] = []
        failed: list[OSError] = []
        done = threading.Event()

        def resolve() -> None:
            try:
                found.append(list(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)))
            except OSError as error:
                failed.append(error)
            finally:
                self._resolutions.release()
                done.set()

        threading.Thread(target=resolve, name="tessera-oidc-resolve", daemon=True).start()
        if not done.wait(max(0.0, deadline - self._monotonic())):
            raise self._timed_out()
        if failed:
            raise _unreachable(host, port, "could not be resolved", failed[0])
        return found[0]

    def _timed_out(self) -> IDPCommunicationErrorException:
        return IDPCommunicationErrorException(f"The identity provider did not answer within {self.settings.timeout:g} seconds.")

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
                raise self._timed_out()

    def _context(self) -> SSL.Context:
        context = SSL.Context(SSL.TLS_CLIENT_METHOD)
        context.set_min_proto_version(SSL.TLS1_2_VERSION)
        context.set_verify(SSL.VERIFY_NONE)  # the chain is verified by ``_trust``, by AWS's rule
        return context

    # -- trust ------------------------------------------------------------------------------
    def _assess(self, chain: Sequence[x509.Certificate], host: str, now: dt.datetime) -> _Trust:
        """What the chain a server presented proves: verified by a CA for ``host``, and
        the thumbprint a provider may pin it by (each request decides with its
        provider's ``ThumbprintList``, ``_trusted``)."""
        if not chain:
            return _Trust(ca=False, pinned=None)
        leaf, intermediates = chain[0], list(chain[1:])
        subject: DNSName | IPAddress = IPAddress(ipaddress.ip_address(host)) if _is_ip(host) else DNSName(host)
        when = now.astimezone(dt.UTC).replace(tzinfo=None)
        top = chain[-1]
        try:
            _verifier(self._ca_store(), subject, when).verify(leaf, intermediates)
            return _Trust(ca=True, pinned=thumbprint(top))
        except VerificationError:
            pass
        if len(chain) == 1:
            return _Trust(ca=False, pinned=thumbprint(top))  # a pinned certificate is the server's own
        try:
            _verifier(Store([top]), subject, when).verify(leaf, intermediates[:-1])
        except VerificationError:
            return _Trust(ca=False, pinned=None)
        return _Trust(ca=False, pinned=thumbprint(top))

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


def _lowered(thumbprints: Iterable[str]) -> frozenset[str]:
    return frozenset(p.lower() for p in thumbprints)


def _trusted(fetched: _Fetched, prints: frozenset[str]) -> list[Mapping[str, Any]]:
    if not all(trust.allows(prints) for trust in fetched.trust):
        raise InvalidIdentityTokenException(THUMBPRINT_MISMATCH)
    return fetched.keys


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


def _public(address: str) -> bool:
    """Whether an address is a public unicast one: not loopback, private, link-local,
    shared (100.64/10), multicast, reserved or unspecified (IPv4-mapped IPv6 judged as IPv4)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _unreachable(host: str, port: int, what: str, error: BaseException) -> IDPCommunicationErrorException:
    reason = (str(error) or type(error).__name__)[:200]
    return IDPCommunicationErrorException(f"The identity provider at {host}:{port} {what}: {reason}.")

"""Provider keys (tessera.auth.oidc_keys) against a real HTTPS issuer on loopback: both
trust paths, the cache and its TTL, the refetch limit (on an injected monotonic clock),
and the refusals."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from oidc_issuer import OidcIssuer
from tarpit import Tarpit

from tessera.auth import oidc_keys
from tessera.auth.oidc_keys import THUMBPRINT_MISMATCH, UNREACHABLE, OidcKeys, OidcSettings
from tessera.errors import IDPCommunicationErrorException, InvalidIdentityTokenException

NOW = dt.datetime.now(dt.UTC)


@contextlib.contextmanager
def unreachable(caplog: pytest.LogCaptureFixture, detail: str) -> Iterator[None]:
    """The call fails IDPCommunicationError with the generic message; ``detail`` (a
    regular expression) is only in the server's log."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tessera.oidc"), pytest.raises(IDPCommunicationErrorException) as raised:
        yield
    assert raised.value.message == UNREACHABLE
    assert re.search(detail, caplog.text), caplog.text


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def issuer() -> Iterator[OidcIssuer]:
    with OidcIssuer(cache_control="public, max-age=120") as started:
        yield started


@pytest.fixture
def bundle(issuer: OidcIssuer, tmp_path: Path) -> str:
    return str(issuer.ca_file(tmp_path))


def test_the_ca_bundle_path(issuer: OidcIssuer, bundle: str) -> None:
    keys = OidcKeys(OidcSettings(extra_ca_file=bundle)).keys(issuer.issuer, [], issuer.kid, NOW)
    assert issuer.kid in {k["kid"] for k in keys}


def test_the_thumbprint_path(issuer: OidcIssuer) -> None:
    keys = OidcKeys().keys(issuer.issuer, [issuer.thumbprint.upper()], issuer.kid, NOW)
    assert issuer.kid in {k["kid"] for k in keys}
    with pytest.raises(InvalidIdentityTokenException, match=THUMBPRINT_MISMATCH):
        OidcKeys().keys(issuer.issuer, ["0" * 40], issuer.kid, NOW)
    with pytest.raises(InvalidIdentityTokenException, match=THUMBPRINT_MISMATCH):
        OidcKeys().keys(issuer.issuer, [], issuer.kid, NOW)  # neither a known CA nor a thumbprint


def test_a_thumbprint_does_not_excuse_a_certificate_for_another_host(issuer: OidcIssuer) -> None:
    with OidcIssuer(host="127.0.0.1") as other:
        # the server's certificate names 127.0.0.1; reached as localhost it does not match
        wrong_host = other.issuer.replace("127.0.0.1", "localhost")
        with pytest.raises(InvalidIdentityTokenException, match=THUMBPRINT_MISMATCH):
            OidcKeys().keys(wrong_host, [other.thumbprint], other.kid, NOW)


def test_cached_keys_are_served_until_their_max_age(issuer: OidcIssuer, bundle: str) -> None:
    ticks = Ticks()
    keys = OidcKeys(OidcSettings(extra_ca_file=bundle), monotonic=ticks)
    before = issuer.request_count
    keys.keys(issuer.issuer, [], issuer.kid, NOW)
    assert issuer.request_count - before == 2  # discovery, then the JWKS
    ticks.now += 119
    keys.keys(issuer.issuer, [], issuer.kid, NOW)
    assert issuer.request_count - before == 2
    ticks.now += 1  # max-age=120 has passed
    keys.keys(issuer.issuer, [], issuer.kid, NOW)
    assert issuer.request_count - before == 4


def test_unknown_kids_refetch_at_most_once_per_interval(issuer: OidcIssuer, bundle: str) -> None:
    ticks = Ticks()
    keys = OidcKeys(OidcSettings(extra_ca_file=bundle, refetch_interval=10), monotonic=ticks)
    keys.keys(issuer.issuer, [], issuer.kid, NOW)
    ticks.now += 10
    before = issuer.request_count
    for n in range(50):
        assert "nope" not in {k["kid"] for k in keys.keys(issuer.issuer, [], f"nope-{n}", NOW)}
    assert issuer.request_count - before == 2  # the first unknown kid refetched, the rest waited
    ticks.now += 9.9
    keys.keys(issuer.issuer, [], "still-unknown", NOW)
    assert issuer.request_count - before == 2
    ticks.now += 0.1
    new_kid = issuer.rotate()
    assert new_kid in {k["kid"] for k in keys.keys(issuer.issuer, [], new_kid, NOW)}
    assert issuer.request_count - before == 4


def test_failures_are_remembered_for_the_interval(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ticks = Ticks()
    with OidcIssuer() as gone:
        issuer_url, ca = gone.issuer, str(gone.ca_file(tmp_path))
    keys = OidcKeys(OidcSettings(extra_ca_file=ca), monotonic=ticks)
    with unreachable(caplog, "could not be reached"):
        keys.keys(issuer_url, [], None, NOW)
    with pytest.raises(IDPCommunicationErrorException, match=UNREACHABLE):
        keys.keys(issuer_url, [], None, NOW)  # not tried again: the remembered failure


def test_documents_over_the_size_limit_are_refused(issuer: OidcIssuer, bundle: str, caplog: pytest.LogCaptureFixture) -> None:
    with unreachable(caplog, "exceeds 64 bytes"):
        OidcKeys(OidcSettings(extra_ca_file=bundle, max_document_bytes=64)).keys(issuer.issuer, [], issuer.kid, NOW)


def test_a_silent_server_times_out(caplog: pytest.LogCaptureFixture) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True)
    thread.start()
    try:
        port = listener.getsockname()[1]
        with unreachable(caplog, r"did not answer within 0\.3 seconds"):
            OidcKeys(OidcSettings(timeout=0.3)).keys(f"https://127.0.0.1:{port}/x", [], None, NOW)
    finally:
        thread.join(timeout=5)
        for conn in accepted:
            conn.close()
        listener.close()


def test_a_non_https_jwks_uri_or_missing_document_is_refused(issuer: OidcIssuer, bundle: str, caplog: pytest.LogCaptureFixture) -> None:
    with unreachable(caplog, "HTTP 404"):
        OidcKeys(OidcSettings(extra_ca_file=bundle)).keys(issuer.issuer + "/nothing-here", [], None, NOW)


def test_while_one_request_fetches_others_answer_from_the_keys_at_hand(issuer: OidcIssuer, bundle: str) -> None:
    ticks = Ticks()
    keys = OidcKeys(OidcSettings(extra_ca_file=bundle, refetch_interval=0), monotonic=ticks)
    cached = keys.keys(issuer.issuer, [], issuer.kid, NOW)
    before = issuer.request_count
    entry = keys._entries.get(issuer.issuer)
    with entry.lock:  # as a fetch in progress holds it
        assert keys.keys(issuer.issuer, [], "rotated-in-the-meantime", NOW) is cached
    assert issuer.request_count == before


def test_chunked_answers_are_read(tmp_path: Path) -> None:
    with OidcIssuer(chunked=True) as chunked:
        keys = OidcKeys(OidcSettings(extra_ca_file=str(chunked.ca_file(tmp_path)))).keys(chunked.issuer, [], chunked.kid, NOW)
        assert chunked.kid in {k["kid"] for k in keys}


def _in_thread(call: Callable[[], object]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as error:  # reported to the test
            errors.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def test_one_fetch_per_issuer_and_bounded_waiters(caplog: pytest.LogCaptureFixture) -> None:
    """While one request fetches a silent issuer's keys, a request for the same issuer
    waits at most ``wait`` seconds, and beyond ``max_waiters`` it is refused at once."""
    tarpit = Tarpit()
    keys = OidcKeys(OidcSettings(timeout=600, wait=0.05, max_waiters=1))
    issuer = f"https://127.0.0.1:{tarpit.port}/one"
    try:
        fetching, fetch_errors = _in_thread(lambda: keys.keys(issuer, [], None, NOW))
        assert tarpit.connected.acquire(timeout=30)
        with unreachable(caplog, "being fetched|fetches in flight|name resolutions already running"):
            keys.keys(issuer, [], None, NOW)  # waited 0.05 s for the lock, in vain
        keys._waiters.acquire()  # as another waiting request holds the one waiter's place
        assert keys._entries.get(issuer).lock.locked()  # the fetch still holds it
        try:
            with unreachable(caplog, "being fetched|fetches in flight|name resolutions already running"):
                keys.keys(issuer, [], None, NOW)
        finally:
            keys._waiters.release()
        assert fetching.is_alive() and len(tarpit.accepted) == 1  # one fetch per issuer
    finally:
        tarpit.close()
    fetching.join(timeout=30)
    assert fetch_errors and isinstance(fetch_errors[0], IDPCommunicationErrorException)


def test_fetches_across_issuers_are_bounded(caplog: pytest.LogCaptureFixture) -> None:
    tarpit = Tarpit()
    keys = OidcKeys(OidcSettings(timeout=600, max_fetches=2))
    issuers = [f"https://127.0.0.1:{tarpit.port}/p{n}" for n in range(3)]
    try:
        threads = [_in_thread(lambda issuer=issuer: keys.keys(issuer, [], None, NOW))[0] for issuer in issuers[:2]]
        assert tarpit.connected.acquire(timeout=30) and tarpit.connected.acquire(timeout=30)
        with unreachable(caplog, "being fetched|fetches in flight|name resolutions already running"):
            keys.keys(issuers[2], [], None, NOW)
        assert len(tarpit.accepted) == 2 and all(thread.is_alive() for thread in threads)
    finally:
        tarpit.close()
    for thread in threads:
        thread.join(timeout=30)


def test_the_deadline_covers_the_whole_fetch(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Name resolution that never returns is given up at the fetch's deadline."""
    release = threading.Event()
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: release.wait(60) and [])
    keys = OidcKeys(OidcSettings(timeout=0.2, max_resolutions=1))
    try:
        with unreachable(caplog, r"did not answer within 0\.2 seconds"):
            keys.keys("https://idp.example.com/a", [], None, NOW)
        # the abandoned resolution still runs: another one is refused at once
        with unreachable(caplog, "being fetched|fetches in flight|name resolutions already running"):
            keys.keys("https://idp.example.com/b", [], None, NOW)
    finally:
        release.set()


def test_the_client_is_never_told_where_or_why(caplog: pytest.LogCaptureFixture) -> None:
    """A closed port, a silent one and an address that is not allowed all read alike to
    the client: nothing of the host, port or reason (no port scanning through STS)."""
    with OidcIssuer() as gone:
        closed = gone.issuer
    with unreachable(caplog, "could not be reached"):
        OidcKeys().keys(closed, [], None, NOW)
    with unreachable(caplog, r"resolves only to non-public addresses \(127\.0\.0\.1\)"):
        OidcKeys(OidcSettings(allow_private=False)).keys("https://127.0.0.1:1/x", [], None, NOW)


def test_private_addresses_can_be_refused(issuer: OidcIssuer, bundle: str, caplog: pytest.LogCaptureFixture) -> None:
    assert OidcKeys(OidcSettings(extra_ca_file=bundle)).keys(issuer.issuer, [], issuer.kid, NOW)
    before = issuer.request_count
    with unreachable(caplog, "non-public"):
        OidcKeys(OidcSettings(extra_ca_file=bundle, allow_private=False)).keys(issuer.issuer, [], issuer.kid, NOW)
    assert issuer.request_count == before


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    assert oidc_keys._public(address) is public


def test_expired_keys_are_not_served_while_the_issuer_is_unreachable(tmp_path: Path) -> None:
    ticks = Ticks()
    with OidcIssuer(cache_control="max-age=120") as going:
        keys = OidcKeys(OidcSettings(extra_ca_file=str(going.ca_file(tmp_path)), refetch_interval=10, wait=0), monotonic=ticks)
        assert keys.keys(going.issuer, [], going.kid, NOW)
        issuer_url, kid = going.issuer, going.kid
    entry = keys._entries.get(issuer_url)
    ticks.now += 119
    assert keys.keys(issuer_url, [], kid, NOW)  # not expired yet: no fetch
    ticks.now += 1
    with pytest.raises(IDPCommunicationErrorException, match=UNREACHABLE):
        keys.keys(issuer_url, [], kid, NOW)  # expired: refetched, unreachable
    ticks.now += 1
    with pytest.raises(IDPCommunicationErrorException, match=UNREACHABLE):
        keys.keys(issuer_url, [], kid, NOW)  # within the refetch interval: still not the old keys
    with entry.lock, pytest.raises(IDPCommunicationErrorException, match=UNREACHABLE):
        keys.keys(issuer_url, [], kid, NOW)  # nor while another request fetches


def test_keys_outlive_a_short_max_age_until_a_refetch_is_allowed(issuer: OidcIssuer, bundle: str) -> None:
    ticks = Ticks()
    keys = OidcKeys(OidcSettings(extra_ca_file=bundle, refetch_interval=300), monotonic=ticks)
    before = issuer.request_count
    keys.keys(issuer.issuer, [], issuer.kid, NOW)
    ticks.now += 299  # max-age=120 has passed, a refetch is not allowed yet
    assert issuer.kid in {k["kid"] for k in keys.keys(issuer.issuer, [], issuer.kid, NOW)}
    assert issuer.request_count - before == 2


def test_keys_are_cached_per_issuer_and_trusted_per_request(issuer: OidcIssuer) -> None:
    """One fetch serves every provider of the issuer; each request's thumbprints decide
    whether it trusts the servers the keys came from."""
    ticks = Ticks()
    keys = OidcKeys(OidcSettings(refetch_interval=10), monotonic=ticks)
    before = issuer.request_count
    assert keys.keys(issuer.issuer, [issuer.thumbprint], issuer.kid, NOW)
    with pytest.raises(InvalidIdentityTokenException, match=THUMBPRINT_MISMATCH):
        keys.keys(issuer.issuer, ["0" * 40], issuer.kid, NOW)
    with pytest.raises(InvalidIdentityTokenException, match=THUMBPRINT_MISMATCH):
        keys.keys(issuer.issuer, [], issuer.kid, NOW)
    assert keys.keys(issuer.issuer, ["0" * 40, issuer.thumbprint.upper()], issuer.kid, NOW)
    assert issuer.request_count - before == 2  # one fetch for all of them
    # the refetch limit is the issuer's, whatever thumbprint list a request names
    ticks.now += 11  # a refetch is allowed again
    keys.keys(issuer.issuer, [issuer.thumbprint], "unknown-1", NOW)
    keys.keys(issuer.issuer, [issuer.thumbprint, "1" * 40], "unknown-2", NOW)
    keys.keys(issuer.issuer, [issuer.thumbprint, "2" * 40], "unknown-3", NOW)
    assert issuer.request_count - before == 4


def test_the_cache_holds_a_bounded_number_of_issuers(issuer: OidcIssuer, bundle: str) -> None:
    keys = OidcKeys(OidcSettings(extra_ca_file=bundle, max_issuers=2))
    for n in range(5):
        with pytest.raises(IDPCommunicationErrorException):
            keys.keys(f"{issuer.issuer}/missing-{n}", [], None, NOW)
    assert keys.keys(issuer.issuer, [], issuer.kid, NOW)
    assert len(keys._entries) == 2
    assert keys._entries.get(issuer.issuer) is not None


def test_cached_answers_what_keys_would_without_fetching(issuer: OidcIssuer, bundle: str) -> None:
    """``cached`` (what the event loop may call): the keys ``keys`` would answer with no
    fetch, else None; it never fetches."""
    ticks = Ticks()
    keys = OidcKeys(OidcSettings(extra_ca_file=bundle, refetch_interval=10), monotonic=ticks)
    before = issuer.request_count
    assert keys.cached(issuer.issuer, [], issuer.kid) is None  # nothing fetched yet
    fetched = keys.keys(issuer.issuer, [], issuer.kid, NOW)
    assert keys.cached(issuer.issuer, [], issuer.kid) is fetched
    assert keys.cached(issuer.issuer, [], None) is fetched  # a token without kid: any key
    assert keys.cached(issuer.issuer, ["AB" * 20], issuer.kid) is fetched  # CA-trusted: thumbprints play no part
    assert keys.cached(issuer.issuer, [], "unknown") is fetched  # within the refetch limit: no fetch due
    ticks.now += 10
    assert keys.cached(issuer.issuer, [], "unknown") is None  # a refetch is allowed: keys() must run
    entry = keys._entries.get(issuer.issuer)
    with entry.lock:  # as a fetch in progress holds it: the keys at hand
        assert keys.cached(issuer.issuer, [], "unknown") is fetched
    assert keys.cached(issuer.issuer, [], issuer.kid) is fetched
    ticks.now += 110  # max-age=120 has passed
    assert keys.cached(issuer.issuer, [], issuer.kid) is None
    with entry.lock:  # expired keys are not served, even while another request fetches
        assert keys.cached(issuer.issuer, [], issuer.kid) is None
    assert issuer.request_count - before == 2  # only keys() fetched


def test_cached_decides_trust_per_request(issuer: OidcIssuer) -> None:
    """Without a CA to trust the issuer, ``cached`` answers only a request whose provider
    pins the server by thumbprint (``keys`` refuses the others: InvalidIdentityToken)."""
    keys = OidcKeys(OidcSettings(refetch_interval=10), monotonic=Ticks())
    fetched = keys.keys(issuer.issuer, [issuer.thumbprint], issuer.kid, NOW)
    assert keys.cached(issuer.issuer, [issuer.thumbprint.upper()], issuer.kid) is fetched
    assert keys.cached(issuer.issuer, ["0" * 40], issuer.kid) is None
    assert keys.cached(issuer.issuer, [], issuer.kid) is None
    with pytest.raises(InvalidIdentityTokenException, match=THUMBPRINT_MISMATCH):
        keys.keys(issuer.issuer, ["0" * 40], issuer.kid, NOW)


def test_verification_method_is_the_requesting_providers(issuer: OidcIssuer, bundle: str) -> None:
    """One issuer's keys, trusted by a CA for every provider (IAMTrustStore), or by
    thumbprint for a provider that pins the server when no CA trusts it (Thumbprint)."""
    by_ca = OidcKeys(OidcSettings(extra_ca_file=bundle))
    assert by_ca.verification_method(issuer.issuer, []) is None  # nothing cached
    by_ca.keys(issuer.issuer, [], issuer.kid, NOW)
    assert by_ca.verification_method(issuer.issuer, []) == oidc_keys.TRUST_STORE
    assert by_ca.verification_method(issuer.issuer, [issuer.thumbprint]) == oidc_keys.TRUST_STORE
    pinned = OidcKeys()
    pinned.keys(issuer.issuer, [issuer.thumbprint], issuer.kid, NOW)
    assert pinned.verification_method(issuer.issuer, [issuer.thumbprint]) == oidc_keys.THUMBPRINT
    assert pinned.verification_method(issuer.issuer, ["0" * 40]) is None  # not trusted by this provider

"""Provider keys (tessera.auth.oidc_keys) against a real HTTPS issuer on loopback: both
trust paths, the cache and its TTL, the refetch limit (on an injected monotonic clock),
and the refusals."""

from __future__ import annotations

import datetime as dt
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from oidc_issuer import OidcIssuer

from tessera.auth.oidc_keys import THUMBPRINT_MISMATCH, OidcKeys, OidcSettings
from tessera.errors import IDPCommunicationErrorException, InvalidIdentityTokenException

NOW = dt.datetime.now(dt.UTC)


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


def test_failures_are_remembered_for_the_interval(tmp_path: Path) -> None:
    ticks = Ticks()
    with OidcIssuer() as gone:
        issuer_url, ca = gone.issuer, str(gone.ca_file(tmp_path))
    keys = OidcKeys(OidcSettings(extra_ca_file=ca), monotonic=ticks)
    with pytest.raises(IDPCommunicationErrorException, match="could not be reached"):
        keys.keys(issuer_url, [], None, NOW)
    with pytest.raises(IDPCommunicationErrorException, match="could not be reached"):
        keys.keys(issuer_url, [], None, NOW)  # not tried again: the remembered failure


def test_documents_over_the_size_limit_are_refused(issuer: OidcIssuer, bundle: str) -> None:
    with pytest.raises(IDPCommunicationErrorException, match="exceeds 64 bytes"):
        OidcKeys(OidcSettings(extra_ca_file=bundle, max_document_bytes=64)).keys(issuer.issuer, [], issuer.kid, NOW)


def test_a_silent_server_times_out() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True)
    thread.start()
    try:
        port = listener.getsockname()[1]
        with pytest.raises(IDPCommunicationErrorException, match=r"did not answer within 0\.3 seconds"):
            OidcKeys(OidcSettings(timeout=0.3)).keys(f"https://127.0.0.1:{port}/x", [], None, NOW)
    finally:
        thread.join(timeout=5)
        for conn in accepted:
            conn.close()
        listener.close()


def test_a_non_https_jwks_uri_or_missing_document_is_refused(issuer: OidcIssuer, bundle: str) -> None:
    with pytest.raises(IDPCommunicationErrorException, match="HTTP 404"):
        OidcKeys(OidcSettings(extra_ca_file=bundle)).keys(issuer.issuer + "/nothing-here", [], None, NOW)


def test_while_one_request_fetches_others_answer_from_the_keys_at_hand(issuer: OidcIssuer, bundle: str) -> None:
    ticks = Ticks()
    keys = OidcKeys(OidcSettings(extra_ca_file=bundle, refetch_interval=0), monotonic=ticks)
    cached = keys.keys(issuer.issuer, [], issuer.kid, NOW)
    before = issuer.request_count
    entry = keys._entries[(issuer.issuer, ())]
    with entry.lock:  # as a fetch in progress holds it
        assert keys.keys(issuer.issuer, [], "rotated-in-the-meantime", NOW) is cached
    assert issuer.request_count == before


def test_chunked_answers_are_read(tmp_path: Path) -> None:
    with OidcIssuer(chunked=True) as chunked:
        keys = OidcKeys(OidcSettings(extra_ca_file=str(chunked.ca_file(tmp_path)))).keys(chunked.issuer, [], chunked.kid, NOW)
        assert chunked.kid in {k["kid"] for k in keys}


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
    assert keys.cached(issuer.issuer, ["AB" * 20], issuer.kid) is None  # another provider's thumbprints
    assert keys.cached(issuer.issuer, [], "unknown") is fetched  # within the refetch limit: no fetch due
    ticks.now += 10
    assert keys.cached(issuer.issuer, [], "unknown") is None  # a refetch is allowed: keys() must run
    entry = keys._entries[(issuer.issuer, ())]
    with entry.lock:  # as a fetch in progress holds it: the keys at hand
        assert keys.cached(issuer.issuer, [], "unknown") is fetched
    assert keys.cached(issuer.issuer, [], issuer.kid) is fetched
    ticks.now += 110  # max-age=120 has passed
    assert keys.cached(issuer.issuer, [], issuer.kid) is None
    assert issuer.request_count - before == 2  # only keys() fetched

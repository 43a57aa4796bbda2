"""An unsigned request is decoded only if it could be a call AWS serves unsigned
(AssumeRoleWithWebIdentity, AssumeRoleWithSAML): its ``Action=`` item names one, and it
is no larger and has no more items than a legal one can. Anything else is refused
``MissingAuthenticationToken`` before a byte of it is percent-decoded (a 1 MiB body of
tiny parameters that merely mentioned ``AssumeRoleWith`` used to be decoded twice, a
second of CPU for one unauthenticated request)."""

from __future__ import annotations

import time
import urllib.parse

import pytest
from attackkit import FORM, RawClient

from tessera.server import app
from tessera.server.unsigned import unsigned_bounds

MIB = 1 << 20
FILLER = b"a=&" * ((MIB - 128) // 3)
ATTACKS = {
    "action-last-after-filler": FILLER + b"Action=AssumeRoleWithSAML&Version=2011-06-15",
    "action-first-then-filler": b"Action=AssumeRoleWithWebIdentity&Version=2011-06-15&" + FILLER,
    "hint-in-a-value": b"x=AssumeRoleWithSAML&" + FILLER + b"Action=CreateUser&Version=2010-05-08&UserName=z",
    "many-items-small-body": b"Action=AssumeRoleWithSAML&Version=2011-06-15&" + b"&" * 1000,
    "hint-in-a-value-small": b"x=AssumeRoleWithSAML&Action=CreateUser&Version=2010-05-08&UserName=z",
    "action-prefix-only": b"Action=AssumeRoleWithSAMLX&Version=2011-06-15",
}


def _exchange(body: bytes, raw_query: str = "") -> app.Exchange:
    return app.Exchange(
        request_id="r",
        started=time.monotonic(),
        method="POST",
        path="/",
        raw_query=raw_query,
        headers={"content-type": FORM},
        body=body,
        source_ip="127.0.0.1",
    )


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the form decodes ``_unsigned_operation`` makes."""
    calls: list[int] = []
    real = app.read_form

    def counting(body: bytes, content_type: str | None, raw_query: str | bytes) -> list[tuple[str, str]]:
        calls.append(len(body))
        return real(body, content_type, raw_query)

    monkeypatch.setattr(app, "read_form", counting)
    return calls


@pytest.mark.parametrize("body", ATTACKS.values(), ids=ATTACKS.keys())
def test_not_a_legal_unsigned_request_is_never_decoded(decodes: list[int], body: bytes) -> None:
    assert app._unsigned_operation(_exchange(body)) is None
    assert decodes == []


def test_the_largest_legal_requests_are_decoded(decodes: list[int]) -> None:
    """The bounds hold every legal request, whatever characters its values use."""
    widest = "\U0010ffff"
    common = [
        ("Version", "2011-06-15"),
        *[(f"PolicyArns.member.{n}.arn", widest * 2048) for n in range(1, 11)],
        ("Policy", "\u00ff" * 2048),
        ("DurationSeconds", "43200"),
        ("RoleArn", widest * 2048),
    ]
    saml = [("Action", "AssumeRoleWithSAML"), *common, ("PrincipalArn", widest * 2048), ("SAMLAssertion", "+" * 100_000)]
    oidc = [
        ("Action", "AssumeRoleWithWebIdentity"),
        *common,
        ("RoleSessionName", widest * 64),
        ("WebIdentityToken", "/" * 20_000),
        ("ProviderId", widest * 2048),
    ]
    for form in (saml, oidc):
        body = urllib.parse.urlencode(form, quote_via=urllib.parse.quote).encode()
        assert len(body) <= unsigned_bounds().max_bytes
        found = app._unsigned_operation(_exchange(body))
        assert found is not None and found[0].name == form[0][1]
        assert found[1] == form  # the decoded form, which the request is then parsed from
        # in the query string too
        found = app._unsigned_operation(_exchange(b"", body.decode()))
        assert found is not None and found[0].name == form[0][1]
    assert len(decodes) == 4


@pytest.mark.parametrize("body", ATTACKS.values(), ids=ATTACKS.keys())
def test_server_refuses_them_unauthenticated(raw: RawClient, body: bytes) -> None:
    reply = raw.request("POST", "/", body, [("Content-Type", FORM)])
    assert reply.status == 403, reply.text[:300]
    assert reply.error_code() == "MissingAuthenticationToken"


def test_a_small_unsigned_call_is_still_served(raw: RawClient) -> None:
    body = b"Action=AssumeRoleWithSAML&Version=2011-06-15&RoleArn=x&PrincipalArn=y&SAMLAssertion=zzzz"
    reply = raw.request("POST", "/", body, [("Content-Type", FORM)])
    assert reply.status == 400, reply.text[:300]
    assert reply.error_code() == "ValidationError"

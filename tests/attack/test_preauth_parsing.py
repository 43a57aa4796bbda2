"""Before a request is authenticated the server parses none of its parameters: an
unauthenticated body costs a SHA-256, never a percent-decode (a 1 MiB body of ``%41``
used to be decoded in full on the event loop before the signature was looked at).

Observable proof: a body that the parser would refuse still gets the authentication
error, so the parser never saw it."""

from __future__ import annotations

import pytest
from attackkit import FORM, RawClient
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from serverproc import REGION, TesseraServer

MIB = 1 << 20
BODIES = {
    "percent-escapes-1mib": (b"Action=GetCallerIdentity&Version=2011-06-15&X=" + b"%41" * ((MIB - 64) // 3), FORM),
    "bad-escape": (b"Action=GetCallerIdentity&Version=2011-06-15&X=%ZZ" + b"A" * 1000, FORM),
    "not-utf8": (b"Action=GetCallerIdentity&Version=2011-06-15&X=%FF%FE" * 1000, FORM),
    "many-parameters": (b"&".join(b"P%d=1" % i for i in range(150_000))[: MIB - 1], FORM),
    "bad-charset": (b"Action=GetCallerIdentity&Version=2011-06-15", "application/x-www-form-urlencoded; charset=rot13"),
    "json-as-query": (b'{"Action": "GetCallerIdentity"}', "application/json"),
}


@pytest.mark.parametrize(("body", "content_type"), BODIES.values(), ids=BODIES.keys())
def test_unauthenticated_body_is_not_parsed(raw: RawClient, target: TesseraServer, body: bytes, content_type: str) -> None:
    assert len(body) <= MIB
    reply = raw.request("POST", "/", body, [("Content-Type", content_type)])
    assert reply.status == 403, reply.text[:300]
    assert reply.error_code() == "MissingAuthenticationToken"
    assert "Traceback" not in target.log()


@pytest.mark.parametrize(("body", "content_type"), BODIES.values(), ids=BODIES.keys())
def test_wrongly_signed_body_is_not_parsed(raw: RawClient, target: TesseraServer, body: bytes, content_type: str) -> None:
    request = AWSRequest("POST", target.endpoint + "/", data=body, headers={"Content-Type": content_type})
    SigV4Auth(BotoCredentials(target.root.access_key_id, "not-the-secret"), "sts", REGION).add_auth(request)
    prepared = request.prepare()
    reply = raw.request("POST", "/", prepared.body or b"", list(dict(prepared.headers.items()).items()))
    assert reply.status == 403, reply.text[:300]
    assert reply.error_code() == "SignatureDoesNotMatch"


def test_unknown_key_body_is_not_parsed(raw: RawClient) -> None:
    body, content_type = BODIES["bad-escape"]
    request = AWSRequest("POST", raw.server.endpoint + "/", data=body, headers={"Content-Type": content_type})
    SigV4Auth(BotoCredentials("AKIAIOSFODNN7EXAMPLE", "x"), "sts", REGION).add_auth(request)
    prepared = request.prepare()
    reply = raw.request("POST", "/", prepared.body or b"", list(dict(prepared.headers.items()).items()))
    assert reply.status == 403
    assert reply.error_code() == "InvalidClientTokenId"


def test_authenticated_malformed_body_gets_the_parse_error(raw: RawClient) -> None:
    body, _ = BODIES["bad-escape"]
    reply = raw.send(raw.signed("sts", body=body))
    assert reply.status == 400, reply.text
    assert reply.error_code() == "MalformedQueryString"


def test_body_over_the_limit_is_refused_before_anything(raw: RawClient) -> None:
    reply = raw.request("POST", "/", b"A" * (MIB + 1), [("Content-Type", FORM)])
    assert reply.status == 413

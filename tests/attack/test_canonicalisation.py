"""The signature check and the parameter parser read the same bytes the same way.

The reproduction: the signature kept ``+`` literal (canonical ``%2B``) while the parser
read it as a space, so a signed ``%2B`` could be rewritten as ``+`` (a space to the
parser) without breaking the signature. Its sibling: the canonical query is sorted, so
the order of a repeated parameter is not signed, while the parser takes the first."""

from __future__ import annotations

import urllib.parse

import pytest
from attackkit import RawClient, Response
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from serverproc import REGION, TesseraServer


def _user_tags(target: TesseraServer, name: str) -> list[dict[str, str]] | None:
    iam = target.client("iam")
    try:
        return list(iam.list_user_tags(UserName=name)["Tags"])
    except iam.exceptions.NoSuchEntityException:
        return None


def _signed_get(raw: RawClient, query: str) -> tuple[str, list[tuple[str, str]]]:
    """A GET with its parameters in the query string, signed in the Authorization header
    over exactly the query text given."""
    server = raw.server
    request = AWSRequest("GET", f"{server.endpoint}/?{query}")
    creds = server.root
    SigV4Auth(BotoCredentials(creds.access_key_id, creds.secret_access_key), "iam", REGION).add_auth(request)
    prepared = request.prepare()
    return "/?" + query, list(dict(prepared.headers.items()).items())


def _send_get(raw: RawClient, target: str, headers: list[tuple[str, str]]) -> Response:
    return raw.request("GET", target, b"", headers)


def test_presigned_plus_cannot_be_turned_into_a_space(raw: RawClient, target: TesseraServer) -> None:
    url = raw.presigned_url(
        "iam",
        {"Action": "CreateUser", "UserName": "plus-user", "Tags.member.1.Key": "k", "Tags.member.1.Value": "a+b"},
    )
    assert "a%2Bb" in url
    reply = raw.get(url.replace("a%2Bb", "a+b"))
    assert reply.status == 403, reply.text
    assert reply.error_code() == "SignatureDoesNotMatch"
    assert _user_tags(target, "plus-user") is None


def test_header_signed_plus_cannot_be_turned_into_a_space(raw: RawClient, target: TesseraServer) -> None:
    query = "Action=CreateUser&Tags.member.1.Key=k&Tags.member.1.Value=a%2Bb&UserName=plus-user-2&Version=2010-05-08"
    path, headers = _signed_get(raw, query)
    reply = _send_get(raw, path.replace("a%2Bb", "a+b"), headers)
    assert reply.status == 403, reply.text
    assert _user_tags(target, "plus-user-2") is None


def test_plus_signed_as_a_space_reads_as_a_space(raw: RawClient, target: TesseraServer) -> None:
    """A client that writes a space as ``+`` gets what it signed (the canonical form of
    either spelling is ``%20``)."""
    query = "Action=CreateUser&Tags.member.1.Key=k&Tags.member.1.Value=a+b&UserName=space-user&Version=2010-05-08"
    _path, headers = _signed_get(raw, query.replace("a+b", "a%20b"))
    reply = _send_get(raw, "/?" + query, headers)
    assert reply.status == 200, reply.text
    assert _user_tags(target, "space-user") == [{"Key": "k", "Value": "a b"}]


def test_order_of_a_repeated_parameter_cannot_be_swapped(raw: RawClient, target: TesseraServer) -> None:
    signed = (
        "Action=CreateUser&Tags.member.1.Key=k&Tags.member.1.Value=first&Tags.member.1.Value=second&UserName=dup-user&Version=2010-05-08"
    )
    path, headers = _signed_get(raw, signed)
    swapped = path.replace("Value=first&Tags.member.1.Value=second", "Value=second&Tags.member.1.Value=first")
    for target_path in (path, swapped):
        reply = _send_get(raw, target_path, headers)
        assert reply.status == 400, reply.text
        assert reply.error_code() == "MalformedQueryString"
    assert _user_tags(target, "dup-user") is None


@pytest.mark.parametrize(
    ("signed", "sent"),
    [
        ("a%20b", "a+b"),  # same text: accepted
        ("a%2Bb", "a%2bb"),  # lower-case hex: same bytes
        ("a.b", "a%2Eb"),  # unreserved escaped: same bytes
    ],
)
def test_equivalent_spellings_keep_the_signature_and_the_meaning(raw: RawClient, target: TesseraServer, signed: str, sent: str) -> None:
    name = "eq-" + urllib.parse.quote(sent, safe="").replace("%", "")[:20]
    query = f"Action=CreateUser&Tags.member.1.Key=k&Tags.member.1.Value={{}}&UserName={name}&Version=2010-05-08"
    _path, headers = _signed_get(raw, query.format(signed))
    reply = _send_get(raw, "/?" + query.format(sent), headers)
    assert reply.status == 200, reply.text
    expected = urllib.parse.unquote(signed)
    assert _user_tags(target, name) == [{"Key": "k", "Value": expected}]

"""Duplicate security headers and mixed signing mechanisms: whatever an attacker repeats or
combines, the request is refused (a 4xx with an authentication error) or answered as the one
principal whose signature was verified, never as a principal it only names.

HTTP joins repeated headers with commas (RFC 9110 section 5.3), which is what SigV4 signs
(https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html), so a
repeated header either breaks the signature or the header's own syntax.
"""

from __future__ import annotations

import urllib.parse

import pytest
from attackkit import Prepared, RawClient, Response, allow, caller_arn, policy, trust_account
from serverproc import Credentials, TesseraServer

AUTH_ERRORS = {
    "IncompleteSignature",
    "SignatureDoesNotMatch",
    "InvalidClientTokenId",
    "MissingAuthenticationToken",
    "InvalidRequest",
    "AccessDenied",
    "AccessDeniedException",
    "InvalidSignatureException",
    "IncompleteSignatureException",
    "UnrecognizedClientException",
    "MissingAuthenticationTokenException",
    "MalformedQueryString",
}  # (a presigned URL that repeats a parameter may be refused as malformed)
GCI = {"Action": "GetCallerIdentity"}


@pytest.fixture(scope="module")
def people(target: TesseraServer) -> dict[str, Credentials]:
    iam = target.client("iam")
    alice = target.make_user("hdr-alice", policy(allow("*")))
    iam.create_role(RoleName="hdr-role", AssumeRolePolicyDocument=trust_account(target.account_id))
    iam.put_role_policy(RoleName="hdr-role", PolicyName="all", PolicyDocument=policy(allow("*")))
    sts = target.client("sts", alice)
    arn = f"arn:aws:iam::{target.account_id}:role/hdr-role"
    one = Credentials.from_response(sts.assume_role(RoleArn=arn, RoleSessionName="one")["Credentials"])
    two = Credentials.from_response(sts.assume_role(RoleArn=arn, RoleSessionName="two")["Credentials"])
    return {"alice": alice, "one": one, "two": two}


def refused(reply: Response, *codes: str) -> None:
    assert 400 <= reply.status < 500, (reply.status, reply.text)
    assert reply.error_code() in (set(codes) or AUTH_ERRORS), reply.text
    assert "<Arn>" not in reply.text


def refused_or_answered_as(reply: Response, arn: str) -> None:
    """Lenient parsers may answer, but only as the principal whose signature was verified."""
    if reply.status == 200:
        assert f"<Arn>{arn}</Arn>" in reply.text, reply.text
    else:
        refused(reply)


def _with(prepared: Prepared, name: str, value: str) -> Prepared:
    prepared.extra_headers.append((name, value))
    return prepared


def test_two_authorization_headers_are_refused(raw: RawClient, people: dict[str, Credentials]) -> None:
    same = raw.signed("sts", GCI)
    refused(raw.send(_with(same, "Authorization", same.headers["Authorization"])))
    # root's signature followed by alice's: neither is taken alone
    root = raw.signed("sts", GCI)
    alice = raw.signed("sts", GCI, creds=people["alice"])
    root.headers["X-Amz-Date"] = alice.headers["X-Amz-Date"]
    refused(raw.send(_with(root, "Authorization", alice.headers["Authorization"])))
    refused(raw.send(_with(alice, "Authorization", raw.signed("sts", GCI).headers["Authorization"])))
    # a second, garbage Authorization header
    for junk in ("AWS4-HMAC-SHA256", "Bearer x", "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20260101/us-east-1/sts/aws4_request"):
        refused(raw.send(_with(raw.signed("sts", GCI), "Authorization", junk)))
    # an empty one adds only a trailing comma to the signer's own header
    root_arn = "arn:aws:iam::111122223333:root"
    refused_or_answered_as(raw.send(_with(raw.signed("sts", GCI), "Authorization", "")), root_arn)


def test_two_security_tokens_are_refused(raw: RawClient, people: dict[str, Credentials]) -> None:
    one, two = people["one"], people["two"]
    assert one.session_token is not None and two.session_token is not None
    refused(raw.send(_with(raw.signed("sts", GCI, creds=one), "X-Amz-Security-Token", one.session_token)))
    refused(raw.send(_with(raw.signed("sts", GCI, creds=one), "X-Amz-Security-Token", two.session_token)))
    refused(raw.send(_with(raw.signed("sts", GCI, creds=one), "X-Amz-Security-Token", "")))
    # a token added to a long-term key's request
    refused(raw.send(_with(raw.signed("sts", GCI, creds=people["alice"]), "X-Amz-Security-Token", one.session_token)))


def test_two_dates_are_refused(raw: RawClient) -> None:
    prepared = raw.signed("sts", GCI)
    refused(raw.send(_with(prepared, "X-Amz-Date", prepared.headers["X-Amz-Date"])))
    prepared = raw.signed("sts", GCI)
    refused(raw.send(_with(prepared, "X-Amz-Date", "20300101T000000Z")))


def test_two_hosts_or_two_targets_are_refused(raw: RawClient) -> None:
    prepared = raw.signed("sts", GCI)
    reply = raw.send(_with(prepared, "Host", "evil.example.com"))  # the HTTP layer may refuse it first, without an AWS code
    assert 400 <= reply.status < 500 and reply.error_code() in AUTH_ERRORS | {""} and "<Arn>" not in reply.text, reply.text
    body = b"{}"
    org = raw.signed(
        "organizations",
        body=body,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AWSOrganizationsV20161128.DescribeOrganization"},
    )
    reply = raw.send(_with(org, "X-Amz-Target", "AWSOrganizationsV20161128.DeleteOrganization"))
    assert 400 <= reply.status < 500 and reply.error_code() in AUTH_ERRORS, reply.text


def test_header_and_presigned_signatures_at_once_answer_only_as_the_verified_signer(
    raw: RawClient, target: TesseraServer, people: dict[str, Credentials]
) -> None:
    """A valid header signature by alice on a URL that also carries root's presigned query: the
    request is refused or answered as alice, never as root."""
    url = raw.presigned_url("sts", GCI)
    target_path = url[len(target.endpoint) :]
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    alice = people["alice"]
    request = AWSRequest("GET", url)
    SigV4Auth(BotoCredentials(alice.access_key_id, alice.secret_access_key), "sts", "us-east-1").add_auth(request)
    headers = [(k, v) for k, v in request.prepare().headers.items()]
    reply = raw.request("GET", target_path, b"", headers)
    refused_or_answered_as(reply, "arn:aws:iam::111122223333:user/hdr-alice")
    # a broken header signature is not rescued by a valid presigned query
    broken = [(k, _other_signature(v) if k == "Authorization" else v) for k, v in headers]
    refused(raw.request("GET", target_path, b"", broken))
    # nor by one that names another principal
    junk = [(k, v.replace(alice.access_key_id, target.root.access_key_id) if k == "Authorization" else v) for k, v in headers]
    refused(raw.request("GET", target_path, b"", junk))


def test_repeated_presigned_parameters_never_switch_the_principal(raw: RawClient, people: dict[str, Credentials]) -> None:
    """Root's presigned URL with one of alice's presigning parameters added, after or before
    root's own: refused, or answered as root (whose signature was verified), never as alice."""
    url = raw.presigned_url("sts", GCI)
    alice_url = raw.presigned_url("sts", GCI, creds=people["alice"])
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(alice_url).query))
    root_arn = "arn:aws:iam::111122223333:root"
    for name in ("X-Amz-Signature", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Algorithm"):
        extra = f"{name}={urllib.parse.quote(query[name], safe='')}"
        refused_or_answered_as(raw.get(f"{url}&{extra}"), root_arn)
        refused_or_answered_as(raw.get(url.replace("?", f"?{extra}&", 1)), root_arn)
    # both signatures of alice's URL moved into root's: still refused as a whole
    swapped = url.split("&X-Amz-Signature=")[0] + "&X-Amz-Signature=" + query["X-Amz-Signature"]
    refused(raw.get(swapped), "SignatureDoesNotMatch")
    assert caller_arn(raw, people["alice"]).endswith(":user/hdr-alice")


def _other_signature(authorization: str) -> str:
    """The header with its signature's last four digits changed (never to themselves)."""
    tail = "0000" if authorization[-4:] != "0000" else "1111"
    return authorization[:-4] + tail

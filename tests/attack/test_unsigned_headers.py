"""Unsigned headers must not change what a request means, and a signature scoped to one
service cannot run another's operation.

The reproduction: a presigned GetCallerIdentity URL (what identity-proof logins hand out)
replayed with an unsigned ``X-Amz-Target`` header became an Organizations call."""

from __future__ import annotations

import urllib.parse

import pytest
from attackkit import FORM, Prepared, RawClient
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from serverproc import REGION, TesseraServer

ORG_TARGET = "AWSOrganizationsV20161128."
JSON_TYPE = "application/x-amz-json-1.1"


@pytest.fixture(scope="module")
def organization(target: TesseraServer) -> str:
    org = target.client("organizations")
    return str(org.create_organization(FeatureSet="ALL")["Organization"]["Id"])


def _org_still_there(target: TesseraServer, org_id: str) -> None:
    assert target.client("organizations").describe_organization()["Organization"]["Id"] == org_id


@pytest.mark.parametrize("operation", ["ListAccounts", "DescribeOrganization", "DeleteOrganization"])
def test_presigned_url_cannot_become_a_json_call_with_an_unsigned_target(
    raw: RawClient, target: TesseraServer, organization: str, operation: str
) -> None:
    url = raw.presigned_url("sts", {"Action": "GetCallerIdentity"})
    reply = raw.get(url, {"X-Amz-Target": ORG_TARGET + operation, "Content-Type": JSON_TYPE})
    assert reply.status == 400, reply.text  # awsJson1_1 answers every client fault with 400
    assert reply.error_code() == "AccessDeniedException"
    assert "not signed" in reply.text and "x-amz-target" in reply.text
    assert "Accounts" not in reply.text and "MasterAccount" not in reply.text
    _org_still_there(target, organization)


def test_presigned_url_still_works_without_extra_headers(raw: RawClient) -> None:
    reply = raw.get(raw.presigned_url("sts", {"Action": "GetCallerIdentity"}))
    assert reply.status == 200, reply.text


@pytest.mark.parametrize(
    "header",
    ["X-Amz-Target", "X-Amz-Security-Token", "X-Amz-Anything", "x-amz-content-sha256"],
)
def test_header_signed_request_with_an_added_amz_header_is_refused(raw: RawClient, header: str) -> None:
    prepared = raw.signed("sts", {"Action": "GetCallerIdentity"})
    value = ORG_TARGET + "ListAccounts" if header == "X-Amz-Target" else "x"
    if header == "x-amz-content-sha256":
        value = prepared.headers.get("X-Amz-Content-SHA256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    prepared.extra_headers.append((header, value))
    reply = raw.send(prepared)
    assert reply.status == (400 if header == "X-Amz-Target" else 403), reply.text
    assert reply.error_code() == ("AccessDeniedException" if header == "X-Amz-Target" else "AccessDenied")
    assert header.lower() in reply.text


def test_signed_target_with_an_sts_scope_cannot_call_organizations(raw: RawClient, target: TesseraServer, organization: str) -> None:
    prepared = raw.signed(
        "organizations",
        body=b"{}",
        scope_service="sts",
        headers={"X-Amz-Target": ORG_TARGET + "DeleteOrganization", "Content-Type": JSON_TYPE},
    )
    reply = raw.send(prepared)
    assert reply.status == 400, reply.text
    assert reply.error_code() == "InvalidSignatureException"
    assert "Credential should be scoped to correct service: 'organizations'." in reply.text
    _org_still_there(target, organization)


@pytest.mark.parametrize(
    ("service", "action", "scope", "expected"),
    [
        ("sts", "GetCallerIdentity", "organizations", "sts"),
        ("sts", "GetCallerIdentity", "iam", "sts"),
        ("iam", "ListUsers", "sts", "iam"),
        ("iam", "CreateUser", "organizations", "iam"),
    ],
)
def test_query_operation_needs_a_credential_scoped_to_its_service(
    raw: RawClient, target: TesseraServer, service: str, action: str, scope: str, expected: str
) -> None:
    params = {"Action": action}
    if action == "CreateUser":
        params["UserName"] = "scoped-elsewhere"
    reply = raw.send(raw.signed(service, params, scope_service=scope))
    assert reply.status == 403, reply.text
    assert reply.error_code() == "SignatureDoesNotMatch"
    assert f"Credential should be scoped to correct service: '{expected}'." in reply.text
    users = [u["UserName"] for u in target.client("iam").list_users()["Users"]]
    assert "scoped-elsewhere" not in users


def _signed_without_content_type(target: TesseraServer, body: bytes) -> Prepared:
    """A POST signed over ``host`` and ``x-amz-date`` only, as a minimal signer would."""
    request = AWSRequest("POST", target.endpoint + "/", data=body, headers={})
    creds = target.root
    SigV4Auth(BotoCredentials(creds.access_key_id, creds.secret_access_key), "iam", REGION).add_auth(request)
    prepared = request.prepare()
    return Prepared("POST", "/", "", dict(prepared.headers.items()), prepared.body or b"")


@pytest.mark.parametrize("charset", ["iso-8859-1", "utf-16", "unicode_escape", "rot13", "base64", "no-such", "x" * 3000])
def test_unsigned_content_type_cannot_change_how_the_body_reads(raw: RawClient, target: TesseraServer, charset: str) -> None:
    # Signed bytes that read "Ã©" in Latin-1 but "é" in UTF-8: the charset would pick the text.
    body = urllib.parse.urlencode(
        {
            "Action": "CreateUser",
            "Version": "2010-05-08",
            "UserName": "cs-user",
            "Tags.member.1.Key": "k",
            "Tags.member.1.Value": "caf\u00e9",
        }
    ).encode()
    prepared = _signed_without_content_type(target, body)
    prepared.extra_headers.append(("Content-Type", f"application/x-www-form-urlencoded; charset={charset}"))
    reply = raw.send(prepared)
    assert reply.status == 400, reply.text
    assert reply.error_code() == "MalformedQueryString"
    users = [u["UserName"] for u in target.client("iam").list_users()["Users"]]
    assert "cs-user" not in users


def test_form_body_without_a_signed_content_type_still_reads_as_utf8(raw: RawClient, target: TesseraServer) -> None:
    body = urllib.parse.urlencode({"Action": "GetCallerIdentity", "Version": "2011-06-15"}).encode()
    request = AWSRequest("POST", target.endpoint + "/", data=body, headers={})
    creds = target.root
    SigV4Auth(BotoCredentials(creds.access_key_id, creds.secret_access_key), "sts", REGION).add_auth(request)
    prepared = request.prepare()
    extra = [("Content-Type", FORM)]
    reply = raw.request("POST", "/", prepared.body or b"", [*dict(prepared.headers.items()).items(), *extra])
    assert reply.status == 200, reply.text

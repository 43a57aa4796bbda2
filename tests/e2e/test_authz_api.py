"""The authorization API end to end: a resource server (stock boto3 through ``AWS_DATA_PATH``
and the model shipped in the package) asks a real ``tessera serve``, on SQLite and
PostgreSQL, to verify and decide requests its clients signed with botocore for a made-up
service ``notes`` — allowed and denied by identity, session and boundary policies, SCPs,
resource policies in and across accounts, tags, expiry, revocation, key status and
signature checks."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import botocore.auth
import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from botocore.exceptions import ClientError
from policies import allow, deny, policy, trust
from serverproc import ACCOUNT_ID, CLIENT_CONFIG, REGION, Credentials, TesseraServer

import tessera
from bench.load import model_client

MODELS = str(Path(tessera.__file__).resolve().parent / "data" / "models")
HOST = "notes.example.com"
NOTE = f"arn:aws:notes:{REGION}:{ACCOUNT_ID}:note/n1"
OTHER_NOTE = f"arn:aws:notes:{REGION}:{ACCOUNT_ID}:note/n2"
_serial = itertools.count()


def authz_client(server: TesseraServer, creds: Credentials) -> Any:
    """A stock boto3 client of the shipped model: a fresh session, so ``AWS_DATA_PATH`` is read."""
    return model_client(
        "tessera-authz",
        MODELS,
        endpoint_url=server.endpoint,
        region_name=REGION,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        aws_session_token=creds.session_token,
        config=CLIENT_CONFIG,
    )


def signed(
    creds: Credentials,
    path: str = "/notes/n1",
    *,
    method: str = "GET",
    query: str = "",
    body: bytes = b"",
    service: str = "notes",
    region: str = REGION,
    presign: bool = False,
    unsigned_body: bool = False,
) -> dict[str, Any]:
    """The client's request as the notes service receives it, signed by botocore (with
    ``unsigned_body``, as botocore signs S3 over HTTPS with payload signing off)."""
    url = f"https://{HOST}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"} if body else {})
    request.context["payload_signing_enabled"] = not unsigned_body
    boto_creds = BotoCredentials(creds.access_key_id, creds.secret_access_key, creds.session_token)
    if presign:
        SigV4QueryAuth(boto_creds, service, region, expires=300).add_auth(request)
    else:
        SigV4Auth(boto_creds, service, region).add_auth(request)
    headers = [{"Name": "Host", "Value": HOST}, *({"Name": k, "Value": v} for k, v in request.headers.items())]
    return {
        "Method": method,
        "Path": path,
        "QueryString": urlsplit(request.url).query,
        "Headers": headers,
        "BodySha256": hashlib.sha256(body).hexdigest(),
        "SourceIp": "192.0.2.10",
        "SecureTransport": True,
    }


def decide(client: Any, request: Mapping[str, Any], action: str = "notes:GetNote", resource: str = NOTE, **extra: Any) -> dict[str, Any]:
    answer: dict[str, Any] = client.authorize_request(Service="notes", Request=request, Action=action, Resource=resource, **extra)
    answer.pop("ResponseMetadata", None)
    return answer


def refused(client: Any, **params: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        client.authorize_request(**params)
    error = caught.value.response["Error"]
    return str(error["Code"]), str(error["Message"])


class World:
    """Two accounts of one organization: the resource server and most clients in the
    management account, a second account for cross-account and SCP cases."""

    def __init__(self, server: TesseraServer) -> None:
        self.server = server
        self.iam = server.client("iam")
        org = server.client("organizations")
        org.create_organization()
        self.org = org
        self.root_id = org.list_roots()["Roots"][0]["Id"]
        self.admin = server.make_user("authz-admin", policy(allow("*")))
        rs_policy = policy(allow("tessera:AuthorizeRequest", f"arn:aws:tessera::{ACCOUNT_ID}:authorizer/notes"))
        self.rs_creds = server.make_user("notes-service", rs_policy)
        self._rs: tuple[int, Any] | None = None
        request = org.create_account(Email="member@example.com", AccountName="member")["CreateAccountStatus"]
        self.member = str(org.describe_create_account_status(CreateAccountRequestId=request["Id"])["CreateAccountStatus"]["AccountId"])
        access = f"arn:aws:iam::{self.member}:role/OrganizationAccountAccessRole"
        session = server.client("sts", self.admin).assume_role(RoleArn=access, RoleSessionName="setup")["Credentials"]
        self.member_admin = Credentials.from_response(session)
        self.member_iam = server.client("iam", self.member_admin)

    @property
    def rs(self) -> Any:
        """The resource server's client (made again when the server restarted on a new port)."""
        if self._rs is None or self._rs[0] != self.server.port:
            self._rs = (self.server.port, authz_client(self.server, self.rs_creds))
        return self._rs[1]

    def user(self, document: str | None = None, *, iam: Any = None, **create: Any) -> tuple[str, Credentials]:
        iam = iam or self.iam
        name = f"u{next(_serial)}"
        arn = iam.create_user(UserName=name, **create)["User"]["Arn"]
        if document is not None:
            iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=document)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return arn, Credentials(key["AccessKeyId"], key["SecretAccessKey"])

    def role_session(self, role_policy: str, **assume: Any) -> tuple[str, Credentials]:
        name = f"r{next(_serial)}"
        self.iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=policy(trust({"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}, ["sts:AssumeRole", "sts:SetSourceIdentity"])),
        )
        self.iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=role_policy)
        sts = self.server.client("sts", self.admin)
        response = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/{name}", RoleSessionName="client", **assume)
        return name, Credentials.from_response(response["Credentials"])


@pytest.fixture(scope="module")
def world(server: TesseraServer) -> World:
    return World(server)


# -- identity policies, and what the answer carries --------------------------------------------


def test_identity_policy_allows_and_the_principal_is_described(world: World) -> None:
    arn, creds = world.user(policy(allow("notes:GetNote", NOTE)), Tags=[{"Key": "team", "Value": "blue"}])
    answer = decide(world.rs, signed(creds))
    assert answer["Decision"] == "Allow"
    assert answer["Principal"] == {
        "Arn": arn,
        "Account": ACCOUNT_ID,
        "UserId": answer["Principal"]["UserId"],
        "Type": "User",
        "PrincipalArn": arn,
        "UserName": arn.rsplit("/", 1)[1],
        "AccessKeyId": creds.access_key_id,
        "Tags": [{"Key": "team", "Value": "blue"}],
        "MfaAuthenticated": False,
    }
    assert answer["Principal"]["UserId"].startswith("AIDA")
    assert answer["MatchedStatements"][0]["PolicyType"] == "identity"
    assert answer["MatchedStatements"][0]["Effect"] == "Allow"
    assert "Error" not in answer


def test_denial_carries_aws_text_and_a_message_the_client_account_decodes(world: World) -> None:
    arn, creds = world.user(policy(allow("notes:GetNote", NOTE), allow("sts:DecodeAuthorizationMessage")))
    answer = decide(world.rs, signed(creds), "notes:DeleteNote")
    assert answer["Decision"] == "Deny"
    error = answer["Error"]
    assert (error["Code"], error["JsonCode"], error["HttpStatus"]) == ("AccessDenied", "AccessDeniedException", 403)
    assert error["Message"] == (
        f"User: {arn} is not authorized to perform: notes:DeleteNote on resource: {NOTE} "
        "because no identity-based policy allows the notes:DeleteNote action"
    )
    decoded = world.server.client("sts", creds).decode_authorization_message(EncodedMessage=error["EncodedAuthorizationMessage"])
    document = json.loads(decoded["DecodedMessage"])
    assert document["allowed"] is False
    assert document["context"]["action"] == "notes:DeleteNote"
    assert document["context"]["resource"] == NOTE
    conditions = {c["key"]: c["values"]["items"][0]["value"] for c in document["context"]["conditions"]["items"]}
    assert conditions["aws:SourceIp"] == "192.0.2.10"
    assert conditions["aws:SecureTransport"] == "true"


def test_explicit_deny_names_its_statement(world: World) -> None:
    _, creds = world.user(policy(allow("notes:*"), deny("notes:DeleteNote", Sid="NoDeletes")))
    answer = decide(world.rs, signed(creds), "notes:DeleteNote")
    assert answer["Decision"] == "Deny"
    assert "with an explicit deny in an identity-based policy" in answer["Error"]["Message"]
    assert [(m["Sid"], m["Effect"]) for m in answer["MatchedStatements"]] == [("NoDeletes", "Deny")]


def test_presigned_url_is_verified_too(world: World) -> None:
    _, creds = world.user(policy(allow("notes:GetNote")))
    assert decide(world.rs, signed(creds, query="format=json", presign=True))["Decision"] == "Allow"


def test_request_context_keys_source_ip_transport_and_request_tags(world: World) -> None:
    condition = {
        "IpAddress": {"aws:SourceIp": "192.0.2.0/24"},
        "Bool": {"aws:SecureTransport": "true"},
        "StringEquals": {"aws:RequestTag/team": "blue", "notes:Folder": "inbox"},
    }
    _, creds = world.user(policy(allow("notes:CreateNote", Condition=condition)))
    entries = [
        {"ContextKeyName": "aws:RequestTag/team", "ContextKeyValues": ["blue"], "ContextKeyType": "string"},
        {"ContextKeyName": "notes:Folder", "ContextKeyValues": ["inbox"], "ContextKeyType": "string"},
    ]
    request = signed(creds, "/notes", method="POST", body=b'{"text": "hi"}')
    assert decide(world.rs, request, "notes:CreateNote", ContextEntries=entries)["Decision"] == "Allow"
    assert decide(world.rs, {**request, "SourceIp": "198.51.100.7"}, "notes:CreateNote", ContextEntries=entries)["Decision"] == "Deny"
    assert decide(world.rs, {**request, "SecureTransport": False}, "notes:CreateNote", ContextEntries=entries)["Decision"] == "Deny"
    assert decide(world.rs, request, "notes:CreateNote", ContextEntries=entries[1:])["Decision"] == "Deny"


# -- session policies, boundaries, tags ---------------------------------------------------------


def test_session_policy_narrows_a_role_session(world: World) -> None:
    role, creds = world.role_session(policy(allow("notes:*")), Policy=policy(allow("notes:GetNote", NOTE)), SourceIdentity="alice")
    answer = decide(world.rs, signed(creds))
    assert answer["Decision"] == "Allow"
    principal = answer["Principal"]
    assert principal["Type"] == "AssumedRole"
    assert principal["Arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role}/client"
    assert principal["PrincipalArn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/{role}"
    assert (principal["SessionName"], principal["SourceIdentity"]) == ("client", "alice")
    denied = decide(world.rs, signed(creds), resource=OTHER_NOTE)
    assert denied["Decision"] == "Deny"
    assert denied["Error"]["Message"].endswith("because no session policy allows the notes:GetNote action")


def test_permissions_boundary_limits_a_user(world: World) -> None:
    boundary = world.iam.create_policy(PolicyName=f"b{next(_serial)}", PolicyDocument=policy(allow("notes:Get*")))["Policy"]["Arn"]
    _, creds = world.user(policy(allow("notes:*")), PermissionsBoundary=boundary)
    assert decide(world.rs, signed(creds))["Decision"] == "Allow"
    denied = decide(world.rs, signed(creds), "notes:DeleteNote")
    assert denied["Error"]["Message"].endswith("because no permissions boundary allows the notes:DeleteNote action")


def test_abac_resource_tag_must_match_the_principal_tag(world: World) -> None:
    condition = {"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}
    _, creds = world.user(policy(allow("notes:GetNote", Condition=condition)), Tags=[{"Key": "team", "Value": "blue"}])
    blue = decide(world.rs, signed(creds), ResourceTags=[{"Key": "team", "Value": "blue"}])
    red = decide(world.rs, signed(creds), ResourceTags=[{"Key": "team", "Value": "red"}])
    assert (blue["Decision"], red["Decision"]) == ("Allow", "Deny")


def test_revoked_role_sessions_are_denied(world: World) -> None:
    role, creds = world.role_session(policy(allow("notes:*")))
    assert decide(world.rs, signed(creds))["Decision"] == "Allow"
    cutoff = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    revoke = policy(deny("*", Condition={"DateLessThan": {"aws:TokenIssueTime": cutoff}}))
    world.iam.put_role_policy(RoleName=role, PolicyName="AWSRevokeOlderSessions", PolicyDocument=revoke)
    answer = decide(world.rs, signed(creds))
    assert answer["Decision"] == "Deny"
    assert "with an explicit deny in an identity-based policy" in answer["Error"]["Message"]


def test_session_of_a_deleted_role_is_denied(world: World) -> None:
    role, creds = world.role_session(policy(allow("notes:*")))
    assert decide(world.rs, signed(creds))["Decision"] == "Allow"
    world.iam.delete_role_policy(RoleName=role, PolicyName="p")
    world.iam.delete_role(RoleName=role)
    answer = decide(world.rs, signed(creds))
    assert answer["Decision"] == "Deny" and answer["Principal"]["Type"] == "AssumedRole"


# -- SCPs and resource policies ---------------------------------------------------------------


def test_scp_of_the_client_account_denies(world: World) -> None:
    _, creds = world.user(policy(allow("notes:*")), iam=world.member_iam)
    note = f"arn:aws:notes:{REGION}:{world.member}:note/m1"
    assert decide(world.rs, signed(creds), "notes:DeleteNote", note, ResourceAccount=world.member)["Decision"] == "Allow"
    scp = world.org.create_policy(
        Name=f"scp{next(_serial)}", Description="", Type="SERVICE_CONTROL_POLICY", Content=policy(deny("notes:DeleteNote"))
    )["Policy"]["PolicySummary"]["Id"]
    world.org.attach_policy(PolicyId=scp, TargetId=world.member)
    try:
        answer = decide(world.rs, signed(creds), "notes:DeleteNote", note, ResourceAccount=world.member)
        assert answer["Decision"] == "Deny"
        assert "with an explicit deny in a service control policy" in answer["Error"]["Message"]
        assert decide(world.rs, signed(creds), "notes:GetNote", note, ResourceAccount=world.member)["Decision"] == "Allow"
    finally:
        world.org.detach_policy(PolicyId=scp, TargetId=world.member)


def test_same_account_resource_policy_alone_allows(world: World) -> None:
    arn, creds = world.user()
    assert decide(world.rs, signed(creds))["Decision"] == "Deny"
    resource_policy = policy(allow("notes:GetNote", NOTE, Principal={"AWS": arn}, Sid="Reader"))
    answer = decide(world.rs, signed(creds), ResourcePolicy=resource_policy)
    assert answer["Decision"] == "Allow"
    assert [(m["PolicyType"], m["Sid"]) for m in answer["MatchedStatements"]] == [("resource", "Reader")]


def test_cross_account_needs_both_the_identity_and_the_resource_policy(world: World) -> None:
    arn, creds = world.user(policy(allow("notes:*")), iam=world.member_iam)
    grant = policy(allow("notes:GetNote", NOTE, Principal={"AWS": f"arn:aws:iam::{world.member}:root"}))
    denied = decide(world.rs, signed(creds))
    assert denied["Decision"] == "Deny"
    assert denied["Error"]["Message"] == (
        f"User: {arn} is not authorized to perform: notes:GetNote on resource: {NOTE} "
        "because no resource-based policy allows the notes:GetNote action"
    )
    allowed = decide(world.rs, signed(creds), ResourcePolicy=grant)
    assert allowed["Decision"] == "Allow"
    assert {m["PolicyType"] for m in allowed["MatchedStatements"]} == {"resource"}  # the client's own policies are its account's
    _, bare = world.user(iam=world.member_iam)
    assert decide(world.rs, signed(bare), ResourcePolicy=grant)["Decision"] == "Deny"


def test_resource_policy_may_admit_the_organization(world: World) -> None:
    org_id = world.org.describe_organization()["Organization"]["Id"]
    _, member = world.user(policy(allow("notes:*")), iam=world.member_iam)
    orgwide = policy(allow("notes:GetNote", NOTE, Principal="*", Condition={"StringEquals": {"aws:PrincipalOrgID": org_id}}))
    assert decide(world.rs, signed(member), ResourcePolicy=orgwide)["Decision"] == "Allow"
    elsewhere = policy(allow("notes:GetNote", NOTE, Principal="*", Condition={"StringEquals": {"aws:PrincipalOrgID": "o-nothere000"}}))
    assert decide(world.rs, signed(member), ResourcePolicy=elsewhere)["Decision"] == "Deny"


# -- the signature ---------------------------------------------------------------------------


def client_error(answer: Mapping[str, Any]) -> tuple[str, str]:
    assert answer["Decision"] == "Deny" and "Principal" not in answer
    return str(answer["Error"]["Code"]), str(answer["Error"]["Message"])


def test_tampered_and_replayed_requests_fail_the_signature(world: World) -> None:
    _, creds = world.user(policy(allow("notes:*")))
    request = signed(creds, "/notes", method="POST", body=b'{"text": "hi"}')
    assert decide(world.rs, request, "notes:CreateNote")["Decision"] == "Allow"
    other_body = {**request, "BodySha256": hashlib.sha256(b'{"text": "bye"}').hexdigest()}
    other_path = {**request, "Path": "/notes/n2"}
    headers = [dict(h) for h in request["Headers"]]
    auth = next(h for h in headers if h["Name"] == "Authorization")
    auth["Value"] = auth["Value"][:-4] + ("0000" if not auth["Value"].endswith("0000") else "1111")
    tampered = {**request, "Headers": headers}
    for replay in (other_body, other_path, tampered):
        assert client_error(decide(world.rs, replay, "notes:CreateNote"))[0] == "SignatureDoesNotMatch"
    answer = decide(world.rs, tampered, "notes:CreateNote")
    assert (answer["Error"]["JsonCode"], answer["Error"]["HttpStatus"]) == ("InvalidSignatureException", 403)


def test_an_unsigned_body_only_where_the_service_takes_it(world: World) -> None:
    _, creds = world.user(policy(allow("notes:*")))
    request = signed(creds, "/notes/n1", method="PUT", body=b"note text", unsigned_body=True)
    code, message = client_error(decide(world.rs, request, "notes:PutNote"))
    assert (code, message) == (
        "SignatureDoesNotMatch",
        "x-amz-content-sha256 'UNSIGNED-PAYLOAD' is not accepted by this service; sign the payload.",
    )
    taken = {**request, "UnsignedPayload": True}
    assert decide(world.rs, taken, "notes:PutNote")["Decision"] == "Allow"
    assert decide(world.rs, {**taken, "BodySha256": hashlib.sha256(b"other").hexdigest()}, "notes:PutNote")["Decision"] == "Allow"
    assert client_error(decide(world.rs, {**taken, "Path": "/notes/n2"}, "notes:PutNote"))[0] == "SignatureDoesNotMatch"


@pytest.mark.parametrize("presign", [False, True], ids=["header", "presigned"])
def test_s3_style_clients_sign_the_path_as_sent(world: World, presign: bool) -> None:
    _, creds = world.user(policy(allow("notes:*")))
    path = "/notes/my%20note%2Bdraft"
    request = AWSRequest(method="GET", url=f"https://{HOST}{path}")
    boto_creds = BotoCredentials(creds.access_key_id, creds.secret_access_key)
    signer = S3SigV4QueryAuth(boto_creds, "notes", REGION, expires=300) if presign else S3SigV4Auth(boto_creds, "notes", REGION)
    signer.add_auth(request)
    headers = [{"Name": "Host", "Value": HOST}, *({"Name": k, "Value": v} for k, v in request.headers.items())]
    received = {"Method": "GET", "Path": path, "QueryString": urlsplit(request.url).query, "Headers": headers}
    assert client_error(decide(world.rs, received))[0] == "SignatureDoesNotMatch"
    assert decide(world.rs, {**received, "PathAsSent": True, "UnsignedPayload": True})["Decision"] == "Allow"


def test_scope_must_name_the_expected_service_and_region(world: World) -> None:
    _, creds = world.user(policy(allow("notes:*")))
    code, message = client_error(decide(world.rs, signed(creds, service="s3")))
    assert (code, message) == ("SignatureDoesNotMatch", "Credential should be scoped to correct service: 's3'.")
    assert decide(world.rs, signed(creds), Region=REGION)["Decision"] == "Allow"
    code, message = client_error(decide(world.rs, signed(creds, region="eu-west-1"), Region=REGION))
    assert (code, message) == ("SignatureDoesNotMatch", "Credential should be scoped to a valid region, not 'eu-west-1'.")


def test_unsigned_request_and_unsigned_amz_headers(world: World) -> None:
    answer = decide(world.rs, {"Method": "GET", "Path": "/notes/n1", "Headers": [{"Name": "Host", "Value": HOST}]})
    assert client_error(answer) == ("MissingAuthenticationToken", "Request is missing Authentication Token")
    _, creds = world.user(policy(allow("notes:*")))
    request = signed(creds)
    smuggled = {**request, "Headers": [*request["Headers"], {"Name": "X-Amz-Meta-Extra", "Value": "1"}]}
    code, message = client_error(decide(world.rs, smuggled))
    assert code == "AccessDenied" and message.startswith("There were headers present in the request which were not signed")


def test_inactive_and_deleted_keys_are_invalid(world: World) -> None:
    arn, creds = world.user(policy(allow("notes:*")))
    name = arn.rsplit("/", 1)[1]
    world.iam.update_access_key(UserName=name, AccessKeyId=creds.access_key_id, Status="Inactive")
    expected = ("InvalidClientTokenId", "The security token included in the request is invalid.")
    assert client_error(decide(world.rs, signed(creds))) == expected
    world.iam.update_access_key(UserName=name, AccessKeyId=creds.access_key_id, Status="Active")
    assert decide(world.rs, signed(creds))["Decision"] == "Allow"
    world.iam.delete_access_key(UserName=name, AccessKeyId=creds.access_key_id)
    assert client_error(decide(world.rs, signed(creds))) == expected


# -- the resource server's own authority and input -----------------------------------------------


def test_resource_server_must_be_allowed_for_the_namespace(world: World) -> None:
    _, creds = world.user(policy(allow("s3:*")))
    rs_arn = f"arn:aws:iam::{ACCOUNT_ID}:user/notes-service"
    request = signed(creds, service="s3")
    code, message = refused(world.rs, Service="s3", Request=request, Action="s3:GetObject", Resource="arn:aws:s3:::bucket/key")
    assert code == "AccessDeniedException"
    assert message == (
        f"User: {rs_arn} is not authorized to perform: tessera:AuthorizeRequest on resource: "
        f"arn:aws:tessera::{ACCOUNT_ID}:authorizer/s3 because no identity-based policy allows the tessera:AuthorizeRequest action"
    )
    code, _ = refused(world.rs, Service="notes", Request=signed(creds), Action="s3:GetObject", Resource="arn:aws:s3:::bucket/key")
    assert code == "AccessDeniedException"
    _, user = world.user(policy(allow("notes:*")))
    stranger = authz_client(world.server, user)
    assert refused(stranger, Service="notes", Request=signed(user), Action="notes:GetNote", Resource=NOTE)[0] == "AccessDeniedException"


# -- remembered decisions (tessera.policy.memo) follow every IAM change -------------------------


def test_repeated_questions_follow_tag_and_policy_changes(world: World) -> None:
    condition = {"StringEquals": {"aws:PrincipalTag/team": "blue"}}
    name_arn, creds = world.user(policy(allow("notes:GetNote", Condition=condition)), Tags=[{"Key": "team", "Value": "blue"}])
    name = name_arn.rsplit("/", 1)[1]
    answers = [decide(world.rs, signed(creds))["Decision"] for _ in range(2)]
    world.iam.tag_user(UserName=name, Tags=[{"Key": "team", "Value": "red"}])
    answers.append(decide(world.rs, signed(creds))["Decision"])
    world.iam.tag_user(UserName=name, Tags=[{"Key": "team", "Value": "blue"}])
    answers.append(decide(world.rs, signed(creds))["Decision"])
    world.iam.put_user_policy(UserName=name, PolicyName="no", PolicyDocument=policy(deny("notes:GetNote")))
    answers.append(decide(world.rs, signed(creds))["Decision"])
    world.iam.delete_user_policy(UserName=name, PolicyName="no")
    answers.append(decide(world.rs, signed(creds))["Decision"])
    assert answers == ["Allow", "Allow", "Deny", "Allow", "Deny", "Allow"]


def test_the_resource_servers_own_permission_is_decided_again_after_a_change(world: World) -> None:
    rs_policy = policy(allow("tessera:AuthorizeRequest", f"arn:aws:tessera::{ACCOUNT_ID}:authorizer/notes"))
    name = f"rs{next(_serial)}"
    rs = authz_client(world.server, world.server.make_user(name, rs_policy))
    _, creds = world.user(policy(allow("notes:GetNote")))
    assert decide(rs, signed(creds))["Decision"] == "Allow"
    world.iam.put_user_policy(UserName=name, PolicyName="stop", PolicyDocument=policy(deny("tessera:AuthorizeRequest")))
    assert refused(rs, Service="notes", Request=signed(creds), Action="notes:GetNote", Resource=NOTE)[0] == "AccessDeniedException"
    world.iam.delete_user_policy(UserName=name, PolicyName="stop")
    assert decide(rs, signed(creds))["Decision"] == "Allow"


def _raw_call(world: World, target: str, signing_name: str) -> tuple[int, dict[str, Any]]:
    body = json.dumps({"Service": "notes", "Request": signed(world.rs_creds), "Action": "notes:GetNote", "Resource": NOTE}).encode()
    request = AWSRequest(
        "POST", world.server.endpoint + "/", data=body, headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target}
    )
    SigV4Auth(BotoCredentials(world.rs_creds.access_key_id, world.rs_creds.secret_access_key), signing_name, REGION).add_auth(request)
    prepared = request.prepare()
    call = urllib.request.Request(prepared.url, data=body, headers=dict(prepared.headers.items()), method="POST")
    try:
        with urllib.request.urlopen(call, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_the_api_is_signed_for_tessera_and_its_targets_are_its_own(world: World) -> None:
    status, answer = _raw_call(world, "TesseraAuthorization_20261201.AuthorizeRequest", "tessera")
    assert status == 200 and answer["Principal"]["Arn"].endswith(":user/notes-service")  # it asks about itself
    status, answer = _raw_call(world, "TesseraAuthorization_20261201.AuthorizeRequest", "organizations")
    assert (status, answer["__type"]) == (400, "InvalidSignatureException")
    assert answer["Message"] == "Credential should be scoped to correct service: 'tessera'."
    status, answer = _raw_call(world, "TesseraAuthorization_20261201.ListRoots", "tessera")
    assert (status, answer["__type"]) == (400, "UnknownOperationException")
    status, answer = _raw_call(world, "AWSOrganizationsV20161128.ListRoots", "tessera")
    assert (status, answer["__type"]) == (400, "InvalidSignatureException")


def test_bad_input_is_the_resource_servers_error(world: World) -> None:
    _, creds = world.user(policy(allow("notes:*")))
    request = signed(creds)
    base = {"Service": "notes", "Request": request, "Action": "notes:GetNote", "Resource": NOTE}
    code, message = refused(world.rs, **{**base, "ResourcePolicy": '{"Statement": []}'})
    assert code == "MalformedPolicyDocumentException"
    code, message = refused(
        world.rs, **base, ContextEntries=[{"ContextKeyName": "aws:PrincipalArn", "ContextKeyValues": ["x"], "ContextKeyType": "string"}]
    )
    assert code == "InvalidInputException" and "aws:principalarn cannot be given" in message
    assert refused(world.rs, **{**base, "Request": {**request, "SourceIp": "999.1.1.1"}})[0] == "InvalidInputException"
    assert refused(world.rs, **{**base, "Action": "notes:*"})[0] == "InvalidInputException"


def test_batch_decides_each_pair_after_one_verification(world: World) -> None:
    _, creds = world.user(policy(allow("notes:GetNote", NOTE), allow("notes:ListNotes")))
    entries = [
        {"Action": "notes:GetNote", "Resource": NOTE},
        {"Action": "notes:GetNote", "Resource": OTHER_NOTE},
        {"Action": "notes:ListNotes", "Resource": "*"},
    ]
    answer = world.rs.batch_authorize_request(Service="notes", Request=signed(creds), Entries=entries)
    assert [r["Decision"] for r in answer["Results"]] == ["Allow", "Deny", "Allow"]
    assert answer["Results"][1]["Error"]["Code"] == "AccessDenied"
    assert answer["Principal"]["AccessKeyId"] == creds.access_key_id
    bad = signed(creds, "/notes/n1")
    bad["Path"] = "/notes/other"
    failed = world.rs.batch_authorize_request(Service="notes", Request=bad, Entries=entries)
    assert failed["Results"] == [] and failed["Error"]["Code"] == "SignatureDoesNotMatch" and "Principal" not in failed


# -- expiry: the server's clock moves (last: it restarts the server) ------------------------------


@pytest.fixture
def shifted_clock(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """The server and the clients 1 000 s ahead, then back."""
    seconds = 1000
    real = botocore.auth.get_current_datetime
    world.server.restart({"TESSERA_CLOCK_OFFSET_SECONDS": str(seconds)})
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: real() + dt.timedelta(seconds=seconds))
    try:
        yield seconds
    finally:
        monkeypatch.undo()
        world.server.restart()


def test_expired_session_is_the_clients_expired_token(world: World, request: pytest.FixtureRequest) -> None:
    _, creds = world.role_session(policy(allow("notes:*")), DurationSeconds=900)
    assert decide(world.rs, signed(creds))["Decision"] == "Allow"
    request.getfixturevalue("shifted_clock")
    code, message = client_error(decide(world.rs, signed(creds)))
    assert (code, message) == ("ExpiredToken", "The security token included in the request is expired")


def test_each_call_is_one_audit_event_naming_both_principals(fresh_server: Any) -> None:
    server: TesseraServer = fresh_server()
    rs_creds = server.make_user("svc", policy(allow("tessera:AuthorizeRequest")))
    creds = server.make_user("client", policy(allow("notes:GetNote")))
    rs = authz_client(server, rs_creds)
    assert decide(rs, signed(creds))["Decision"] == "Allow"
    assert decide(rs, signed(creds), "notes:DeleteNote")["Decision"] == "Deny"
    assert server.stop() == 0  # flushes the audit trail
    out = subprocess.run(
        [sys.executable, "-m", "tessera", "audit", "--data-dir", server.data_dir, "--json"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    events = [r for r in map(json.loads, out.stdout.splitlines()) if r["eventName"] == "AuthorizeRequest"]
    assert len(events) == 2
    first = events[0]
    assert first["eventSource"] == "authz.tessera.amazonaws.com"
    assert first["userIdentity"]["arn"] == f"arn:aws:iam::{ACCOUNT_ID}:user/svc"
    assert first["requestParameters"]["request"]["headers"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    assert first["requestParameters"]["action"] == "notes:GetNote"
    data = [e["additionalEventData"] for e in events]
    assert data[0]["client"]["arn"] == f"arn:aws:iam::{ACCOUNT_ID}:user/client"
    assert [d["decisions"][0]["decision"] for d in data] == ["Allow", "Deny"]
    assert data[1]["decisions"][0]["action"] == "notes:DeleteNote"

"""The authorization API's input: what the model refuses (the wire contract, checked through
botocore's own serializer and parser), what the handler refuses before any decision, and
the order of its checks; one request signed by botocore and decided under the event-loop
guard (no store I/O)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from sts_world import T0, A, World, allow, doc, trust

from tessera import errors
from tessera.auth.caller import Caller
from tessera.protocol.json import json_service, parse_json_request, serialize_json_response
from tessera.protocol.model import service_spec
from tessera.services.authz import authorizer_arn

SPEC = service_spec("tessera-authz")
TARGET = "TesseraAuthorization_20261201"
NOTE = f"arn:aws:notes:us-east-1:{A}:note/n1"
EMPTY_SHA = hashlib.sha256(b"").hexdigest()


def unsigned(**request: Any) -> dict[str, Any]:
    return {"Method": "GET", "Path": "/notes/n1", "Headers": [{"Name": "Host", "Value": "notes.example.com"}], **request}


def params(**extra: Any) -> dict[str, Any]:
    return {"Service": "notes", "Request": unsigned(), "Action": "notes:GetNote", "Resource": NOTE, **extra}


def wire(operation: str, value: dict[str, Any]) -> tuple[str, bytes]:
    model = SPEC.model.operation_model(operation)
    request = create_serializer("json", include_validation=False).serialize_to_request(value, model)
    return request["headers"]["X-Amz-Target"], request["body"]


# -- the model ----------------------------------------------------------------------------------


def test_the_target_prefix_names_the_service_and_botocore_round_trips_the_operations() -> None:
    target, body = wire("AuthorizeRequest", params(ResourceTags=[{"Key": "team", "Value": "blue"}]))
    assert json_service(target) == "tessera-authz"
    assert json_service("AWSOrganizationsV20161128.ListRoots") == "organizations"
    name, decoded = parse_json_request(target, body, "tessera-authz")
    assert (name, decoded) == ("AuthorizeRequest", params(ResourceTags=[{"Key": "team", "Value": "blue"}]))
    result = {"Decision": "Deny", "Error": {"Code": "AccessDenied", "JsonCode": "AccessDeniedException", "HttpStatus": 403, "Message": "m"}}
    shape = SPEC.model.operation_model("AuthorizeRequest").output_shape
    encoded = serialize_json_response("AuthorizeRequest", result, "tessera-authz")
    parsed = create_parser("json").parse({"body": encoded, "headers": {}, "status_code": 200}, shape)
    parsed.pop("ResponseMetadata")
    assert parsed == result


def test_signing_name_and_metadata_are_what_clients_sign_for() -> None:
    metadata = SPEC.model.metadata
    assert (metadata["signingName"], metadata["targetPrefix"], metadata["protocol"]) == ("tessera", TARGET, "json")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (params(Request=unsigned(Method="get")), "INVALID_PATTERN"),
        (params(Request=unsigned(Path="notes")), "INVALID_PATTERN"),
        (params(Request=unsigned(BodySha256="abc")), "INVALID_PATTERN"),
        (params(Request=unsigned(Headers=[])), "MIN_LENGTH_EXCEEDED"),
        (params(Request=unsigned(Headers=[{"Name": "Bad Name", "Value": "x"}])), "INVALID_PATTERN"),
        (params(Action="notes:*"), "INVALID_PATTERN"),
        (params(Action="GetNote"), "INVALID_PATTERN"),
        (params(Service="Notes"), "INVALID_PATTERN"),
        (params(ResourceAccount="12345"), "INVALID_PATTERN"),
        (params(ResourcePolicy="x" * 20481), "MAX_LENGTH_EXCEEDED"),
        (params(ContextEntries=[{"ContextKeyName": "notes:Folder", "ContextKeyValues": ["a"], "ContextKeyType": "text"}]), "INVALID_ENUM"),
        ({"Service": "notes", "Request": unsigned(), "Action": "notes:GetNote"}, "INPUT_REQUIRED"),
    ],
    ids=[
        "lower-case-method",
        "path-without-slash",
        "short-sha256",
        "no-headers",
        "header-name-with-space",
        "wildcard-action",
        "action-without-namespace",
        "upper-case-service",
        "short-account",
        "policy-too-long",
        "unknown-context-type",
        "no-resource",
    ],
)
def test_model_constraints_are_invalid_input(value: dict[str, Any], reason: str) -> None:
    target, body = wire("AuthorizeRequest", value)
    with pytest.raises(errors.OrganizationsError) as caught:
        parse_json_request(target, body, "tessera-authz")
    assert (caught.value.code, caught.value.reason) == ("InvalidInputException", reason)


def test_batch_takes_one_to_fifty_entries() -> None:
    entries = [{"Action": "notes:GetNote", "Resource": NOTE}]
    for count, ok in ((0, False), (1, True), (50, True), (51, False)):
        target, body = wire("BatchAuthorizeRequest", {"Service": "notes", "Request": unsigned(), "Entries": entries * count})
        if ok:
            assert len(parse_json_request(target, body, "tessera-authz")[1]["Entries"]) == count
        else:
            with pytest.raises(errors.OrganizationsError):
                parse_json_request(target, body, "tessera-authz")


# -- the handler ----------------------------------------------------------------------------------


class Authz:
    def __init__(self, world: World) -> None:
        self.world = world
        self.server = world.add_user("notes-service", policies={"p": doc(allow("tessera:AuthorizeRequest", authorizer_arn(A, "notes")))})

    def call(self, caller: Caller | None = None, operation: str = "AuthorizeRequest", **value: Any) -> dict[str, Any]:
        return self.world.call(caller or self.server, operation, service="tessera-authz", **value)


@pytest.fixture
def authz(tmp_path: Path) -> Authz:
    return Authz(World(tmp_path))


def test_a_request_without_a_signature_is_the_clients_error(authz: Authz) -> None:
    answer = authz.call(**params())
    assert answer == {
        "Decision": "Deny",
        "Error": {
            "Code": "MissingAuthenticationToken",
            "JsonCode": "MissingAuthenticationTokenException",
            "HttpStatus": 403,
            "Message": "Request is missing Authentication Token",
        },
    }
    batch = authz.call(
        operation="BatchAuthorizeRequest", Service="notes", Request=unsigned(), Entries=[{"Action": "notes:GetNote", "Resource": NOTE}]
    )
    assert batch["Results"] == [] and batch["Error"]["Code"] == "MissingAuthenticationToken"


def test_the_resource_server_is_authorized_first_for_every_namespace(authz: Authz) -> None:
    with pytest.raises(errors.AccessDenied) as caught:
        authz.call(**params(Service="s3", ResourcePolicy="not json"))
    assert f"tessera:AuthorizeRequest on resource: {authorizer_arn(A, 's3')}" in caught.value.message
    with pytest.raises(errors.AccessDenied):
        authz.call(**params(Action="s3:GetObject"))
    entries = [{"Action": "notes:GetNote", "Resource": NOTE}, {"Action": "s3:GetObject", "Resource": "*"}]
    with pytest.raises(errors.AccessDenied):
        authz.call(operation="BatchAuthorizeRequest", Service="notes", Request=unsigned(), Entries=entries)


@pytest.mark.parametrize(
    "key",
    ["aws:PrincipalArn", "aws:SourceIp", "aws:ResourceTag/team", "aws:PrincipalTag/team", "s3:prefix", "aws:SecureTransport"],
)
def test_only_the_requests_own_keys_may_be_given(authz: Authz, key: str) -> None:
    entries = [{"ContextKeyName": key, "ContextKeyValues": ["x"], "ContextKeyType": "string"}]
    with pytest.raises(errors.InvalidInputException) as caught:
        authz.call(**params(ContextEntries=entries))
    assert caught.value.message.startswith(f"Context key {key.lower()} cannot be given")


@pytest.mark.parametrize("key", ["notes:Folder", "aws:RequestTag/team", "aws:TagKeys"])
def test_the_actions_keys_and_request_tags_may_be_given(authz: Authz, key: str) -> None:
    entries = [{"ContextKeyName": key, "ContextKeyValues": ["x"], "ContextKeyType": "stringList"}]
    assert authz.call(**params(ContextEntries=entries))["Error"]["Code"] == "MissingAuthenticationToken"


def test_values_must_read_as_their_type(authz: Authz) -> None:
    entries = [{"ContextKeyName": "notes:Size", "ContextKeyValues": ["big"], "ContextKeyType": "numeric"}]
    with pytest.raises(errors.InvalidInputException):
        authz.call(**params(ContextEntries=entries))


@pytest.mark.parametrize("address", ["999.1.1.1", "::g", "10.0.0.0/8"])
def test_source_ip_must_be_an_address(authz: Authz, address: str) -> None:
    with pytest.raises(errors.InvalidInputException):
        authz.call(**params(Request=unsigned(SourceIp=address)))


@pytest.mark.parametrize(
    "document",
    ["not json", doc(allow("notes:GetNote")), json.dumps({"Version": "2012-10-17", "Statement": []})],
    ids=["not-json", "no-principal", "no-statement"],
)
def test_a_resource_policy_that_does_not_parse_is_malformed(authz: Authz, document: str) -> None:
    with pytest.raises(errors.MalformedPolicyDocumentException):
        authz.call(**params(ResourcePolicy=document))


def test_an_ipv4_client_of_a_dual_stack_listener_is_its_ipv4_address(authz: Authz, monkeypatch: pytest.MonkeyPatch) -> None:
    world = authz.world
    inside = {"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}
    client = world.add_user("client", policies={"p": doc(allow("sts:AssumeRole"))})
    role = world.add_role("Reader", doc(trust({"AWS": client.arn})), policies={"p": doc(allow("notes:GetNote", Condition=inside))})
    creds = world.call(client, "AssumeRole", RoleArn=role, RoleSessionName="s")["Credentials"]
    request = _signed_at_t0(monkeypatch, creds)
    assert authz.call(**params(Request={**request, "SourceIp": "::ffff:192.0.2.7"}))["Decision"] == "Allow"
    assert authz.call(**params(Request={**request, "SourceIp": "::ffff:198.51.100.7"}))["Decision"] == "Deny"


def _signed_at_t0(monkeypatch: pytest.MonkeyPatch, creds: dict[str, Any]) -> dict[str, Any]:
    """A ``GET /notes/n1`` signed by botocore with ``creds``, its clock at the world's."""
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: T0.replace(tzinfo=None) + dt.timedelta(seconds=5))
    request = AWSRequest(method="GET", url="https://notes.example.com/notes/n1")
    SigV4Auth(Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]), "notes", "us-east-1").add_auth(request)
    headers = [{"Name": "Host", "Value": "notes.example.com"}, *({"Name": k, "Value": v} for k, v in request.headers.items())]
    return unsigned(Headers=headers, BodySha256=EMPTY_SHA)


def test_a_signed_request_is_decided_without_touching_the_store(authz: Authz, monkeypatch: pytest.MonkeyPatch) -> None:
    world = authz.world
    client = world.add_user("client", policies={"p": doc(allow("sts:AssumeRole"))})
    role = world.add_role("Reader", doc(trust({"AWS": client.arn})), policies={"p": doc(allow("notes:GetNote", NOTE))})
    creds = world.call(client, "AssumeRole", RoleArn=role, RoleSessionName="s")["Credentials"]
    client_request = _signed_at_t0(monkeypatch, creds)
    allowed = authz.call(**params(Request=client_request))
    assert allowed["Decision"] == "Allow"
    assert allowed["Principal"]["Arn"] == f"arn:aws:sts::{A}:assumed-role/Reader/s"
    denied = authz.call(**params(Request=client_request, Action="notes:DeleteNote"))
    assert denied["Decision"] == "Deny" and denied["Error"]["EncodedAuthorizationMessage"]

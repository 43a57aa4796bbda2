"""SAML federation end to end: IAM SAML providers managed with boto3, and
AssumeRoleWithSAML through stock boto3 (unsigned) and the AWS CLI, with responses
issued by pysaml2 (signed by xmlsec1), on SQLite and PostgreSQL; the session is then
used (GetCallerIdentity names the assumed role)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
from samlidp import ATTR, ENDPOINT, Idp, _key_and_cert, crafted
from serverproc import REGION, Credentials, TesseraServer

AWS_CLI = str(Path(sys.executable).with_name("aws"))


@pytest.fixture(scope="module")
def idp() -> Idp:
    return Idp()


@pytest.fixture(scope="module")
def setup(server: TesseraServer, idp: Idp) -> dict[str, str]:
    iam = server.client("iam")
    provider = iam.create_saml_provider(Name="Corp", SAMLMetadataDocument=idp.metadata(), Tags=[{"Key": "team", "Value": "id"}])
    arn = provider["SAMLProviderArn"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": arn},
                "Action": ["sts:AssumeRoleWithSAML", "sts:SetSourceIdentity"],
                "Condition": {"StringEquals": {"SAML:aud": ENDPOINT}},
            },
            {
                "Effect": "Allow",
                "Principal": {"Federated": arn},
                "Action": "sts:TagSession",
                "Condition": {"StringEquals": {"SAML:sub": "alice@example.test"}},
            },
        ],
    }
    role = iam.create_role(RoleName="SamlRole", AssumeRolePolicyDocument=json.dumps(trust), MaxSessionDuration=7200)["Role"]["Arn"]
    strict = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": arn},
                "Action": "sts:AssumeRoleWithSAML",
                "Condition": {"StringEquals": {"SAML:sub": "bob@example.test"}},
            }
        ],
    }
    strict_role = iam.create_role(RoleName="BobOnly", AssumeRolePolicyDocument=json.dumps(strict))["Role"]["Arn"]
    keyed = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": arn},
                "Action": "sts:AssumeRoleWithSAML",
                "Condition": {
                    "StringEquals": {"SAML:iss": idp.entity_id, "SAML:sub_type": "persistent", "SAML:doc": f"{server.account_id}/Corp"},
                    "ForAnyValue:StringEquals": {"SAML:eduPersonAffiliation": "staff"},
                },
            }
        ],
    }
    keyed_role = iam.create_role(RoleName="StaffOnly", AssumeRolePolicyDocument=json.dumps(keyed))["Role"]["Arn"]
    other_aud = json.loads(json.dumps(trust))
    other_aud["Statement"][0]["Condition"]["StringEquals"]["SAML:aud"] = "https://other.example.test/saml"
    aud_role = iam.create_role(RoleName="OtherAudience", AssumeRolePolicyDocument=json.dumps(other_aud))["Role"]["Arn"]
    return {"provider": arn, "role": role, "strict": strict_role, "keyed": keyed_role, "aud": aud_role}


def _attrs(role: str, provider: str, **extra: list[str]) -> dict[str, list[str]]:
    return {ATTR + "Role": [f"{provider},{role}"], ATTR + "RoleSessionName": ["alice"], **{ATTR + k: v for k, v in extra.items()}}


def _unsigned_sts(server: TesseraServer) -> Any:
    # stock boto3: AssumeRoleWithSAML is sent unsigned whatever credentials the client has
    return server.client("sts", Credentials("AKIAUNUSED0000000000", "unused"))


def test_provider_operations(server: TesseraServer, idp: Idp, setup: dict[str, str]) -> None:
    iam = server.client("iam")
    arn = setup["provider"]
    assert arn == f"arn:aws:iam::{server.account_id}:saml-provider/Corp"
    got = iam.get_saml_provider(SAMLProviderArn=arn)
    assert got["SAMLMetadataDocument"] == idp.metadata()
    assert got["Tags"] == [{"Key": "team", "Value": "id"}]
    assert got["AssertionEncryptionMode"] == "Allowed"
    assert [p["Arn"] for p in iam.list_saml_providers()["SAMLProviderList"]] == [arn]
    iam.tag_saml_provider(SAMLProviderArn=arn, Tags=[{"Key": "env", "Value": "test"}])
    assert {t["Key"] for t in iam.list_saml_provider_tags(SAMLProviderArn=arn)["Tags"]} == {"team", "env"}
    iam.untag_saml_provider(SAMLProviderArn=arn, TagKeys=["env"])
    assert iam.list_saml_provider_tags(SAMLProviderArn=arn)["Tags"] == [{"Key": "team", "Value": "id"}]
    assert iam.update_saml_provider(SAMLProviderArn=arn, SAMLMetadataDocument=idp.metadata())["SAMLProviderArn"] == arn
    with pytest.raises(iam.exceptions.EntityAlreadyExistsException):
        iam.create_saml_provider(Name="corp", SAMLMetadataDocument=idp.metadata())
    with pytest.raises(iam.exceptions.InvalidInputException, match="Could not parse metadata"):
        iam.create_saml_provider(Name="Bad", SAMLMetadataDocument="<x/>" + " " * 1000)
    missing = f"arn:aws:iam::{server.account_id}:saml-provider/Nope"
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_saml_provider(SAMLProviderArn=missing)
    with pytest.raises(iam.exceptions.InvalidInputException, match="No updates"):
        iam.update_saml_provider(SAMLProviderArn=arn)
    temp = iam.create_saml_provider(Name="Temp", SAMLMetadataDocument=idp.metadata())["SAMLProviderArn"]
    iam.delete_saml_provider(SAMLProviderArn=temp)
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.delete_saml_provider(SAMLProviderArn=temp)
    assert iam.get_account_summary()["SummaryMap"]["Providers"] == 1
    # an ARN spelled in another case names no provider (names are case-insensitive, ARNs are not)
    other_case = arn.replace("saml-provider/Corp", "saml-provider/CORP")
    for call in (
        lambda: iam.delete_saml_provider(SAMLProviderArn=other_case),
        lambda: iam.tag_saml_provider(SAMLProviderArn=other_case, Tags=[{"Key": "k", "Value": "v"}]),
        lambda: iam.untag_saml_provider(SAMLProviderArn=other_case, TagKeys=["team"]),
        lambda: iam.get_saml_provider(SAMLProviderArn=other_case),
    ):
        with pytest.raises(iam.exceptions.NoSuchEntityException, match="does not exist"):
            call()
    assert iam.get_saml_provider(SAMLProviderArn=arn)["Tags"] == [{"Key": "team", "Value": "id"}]


def test_provider_operations_are_authorized(server: TesseraServer, setup: dict[str, str]) -> None:
    creds = server.make_user(
        f"saml-reader-{server.port}", {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:List*", "Resource": "*"}]}
    )
    iam = server.client("iam", creds)
    assert len(iam.list_saml_providers()["SAMLProviderList"]) == 1
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        iam.get_saml_provider(SAMLProviderArn=setup["provider"])


def test_assume_role_with_saml_and_use_the_session(server: TesseraServer, idp: Idp, setup: dict[str, str]) -> None:
    sts = _unsigned_sts(server)
    assertion = idp.response(_attrs(setup["role"], setup["provider"], SourceIdentity=["alice"]))
    out = sts.assume_role_with_saml(RoleArn=setup["role"], PrincipalArn=setup["provider"], SAMLAssertion=assertion, DurationSeconds=1800)
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{server.account_id}:assumed-role/SamlRole/alice"
    assert (out["Subject"], out["SubjectType"], out["Issuer"], out["Audience"]) == (
        "alice@example.test",
        "persistent",
        idp.entity_id,
        ENDPOINT,
    )
    digest = hashlib.sha1((idp.entity_id + server.account_id + "/Corp").encode(), usedforsecurity=False).digest()
    assert out["NameQualifier"] == base64.b64encode(digest).decode()
    assert out["SourceIdentity"] == "alice"
    session = server.client("sts", Credentials.from_response(out["Credentials"]))
    assert session.get_caller_identity()["Arn"] == out["AssumedRoleUser"]["Arn"]
    # the same assertion may be presented again until it expires, as AWS allows
    again = sts.assume_role_with_saml(RoleArn=setup["role"], PrincipalArn=setup["provider"], SAMLAssertion=assertion)
    assert again["AssumedRoleUser"]["Arn"] == out["AssumedRoleUser"]["Arn"]


def test_session_tags_need_tag_session(server: TesseraServer, idp: Idp, setup: dict[str, str]) -> None:
    sts = _unsigned_sts(server)
    tagged = _attrs(setup["role"], setup["provider"], **{"PrincipalTag:dept": ["eng"]})
    out = sts.assume_role_with_saml(RoleArn=setup["role"], PrincipalArn=setup["provider"], SAMLAssertion=idp.response(tagged))
    assert out["PackedPolicySize"] >= 0
    as_bob = idp.response(tagged, subject="bob@example.test")
    with pytest.raises(botocore.exceptions.ClientError, match="Not authorized to perform sts:TagSession"):
        sts.assume_role_with_saml(RoleArn=setup["role"], PrincipalArn=setup["provider"], SAMLAssertion=as_bob)


def test_trust_conditions_on_saml_keys(server: TesseraServer, idp: Idp, setup: dict[str, str]) -> None:
    sts = _unsigned_sts(server)
    attrs = _attrs(setup["strict"], setup["provider"])
    with pytest.raises(botocore.exceptions.ClientError, match=r"AccessDenied.*Not authorized to perform sts:AssumeRoleWithSAML"):
        sts.assume_role_with_saml(RoleArn=setup["strict"], PrincipalArn=setup["provider"], SAMLAssertion=idp.response(attrs))
    out = sts.assume_role_with_saml(
        RoleArn=setup["strict"], PrincipalArn=setup["provider"], SAMLAssertion=idp.response(attrs, subject="bob@example.test")
    )
    assert out["AssumedRoleUser"]["Arn"].endswith(":assumed-role/BobOnly/alice")
    with pytest.raises(botocore.exceptions.ClientError, match="Not authorized to perform sts:SetSourceIdentity"):
        sts.assume_role_with_saml(
            RoleArn=setup["strict"],
            PrincipalArn=setup["provider"],
            SAMLAssertion=idp.response({**attrs, ATTR + "SourceIdentity": ["bob"]}, subject="bob@example.test"),
        )
    aud = _attrs(setup["aud"], setup["provider"])
    with pytest.raises(botocore.exceptions.ClientError, match="Not authorized to perform sts:AssumeRoleWithSAML"):
        sts.assume_role_with_saml(RoleArn=setup["aud"], PrincipalArn=setup["provider"], SAMLAssertion=idp.response(aud))


def test_trust_conditions_on_mapped_attributes(server: TesseraServer, idp: Idp, setup: dict[str, str]) -> None:
    sts = _unsigned_sts(server)
    affiliation = "urn:oid:1.3.6.1.4.1.5923.1.1.1.1"
    staff = {**_attrs(setup["keyed"], setup["provider"]), affiliation: ["member", "staff"]}
    out = sts.assume_role_with_saml(RoleArn=setup["keyed"], PrincipalArn=setup["provider"], SAMLAssertion=idp.response(staff))
    assert out["AssumedRoleUser"]["Arn"].endswith(":assumed-role/StaffOnly/alice")
    student = {**_attrs(setup["keyed"], setup["provider"]), affiliation: ["student"]}
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        sts.assume_role_with_saml(RoleArn=setup["keyed"], PrincipalArn=setup["provider"], SAMLAssertion=idp.response(student))


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"audience": "urn:other:sp"}, "InvalidIdentityToken"),
        ({"recipient": "https://evil.test/saml"}, "InvalidIdentityToken"),
        ({"lifetime": dt.timedelta(minutes=-30)}, "ExpiredTokenException"),
        ({"status": "Responder"}, "IDPRejectedClaim"),
    ],
)
def test_refused_assertions(server: TesseraServer, idp: Idp, setup: dict[str, str], change: dict[str, Any], code: str) -> None:
    sts = _unsigned_sts(server)
    b64 = crafted(idp, _attrs(setup["role"], setup["provider"]), **change)
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        sts.assume_role_with_saml(RoleArn=setup["role"], PrincipalArn=setup["provider"], SAMLAssertion=b64)
    assert caught.value.response["Error"]["Code"] == code


def test_request_errors(server: TesseraServer, idp: Idp, setup: dict[str, str]) -> None:
    sts = _unsigned_sts(server)
    other_role = f"arn:aws:iam::{server.account_id}:role/BobOnly"
    mismatched = idp.response(_attrs(setup["role"], setup["provider"]))
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        sts.assume_role_with_saml(RoleArn=other_role, PrincipalArn=setup["provider"], SAMLAssertion=mismatched)
    no_name = idp.response({ATTR + "Role": [f"{setup['role']},{setup['provider']}"]})
    with pytest.raises(botocore.exceptions.ClientError, match="RoleSessionName is required in AuthnResponse"):
        sts.assume_role_with_saml(RoleArn=setup["role"], PrincipalArn=setup["provider"], SAMLAssertion=no_name)
    unknown = f"arn:aws:iam::{server.account_id}:saml-provider/Unknown"
    with pytest.raises(botocore.exceptions.ClientError, match="Specified provider doesn't exist"):
        sts.assume_role_with_saml(RoleArn=setup["role"], PrincipalArn=unknown, SAMLAssertion=mismatched)
    with pytest.raises(botocore.exceptions.ClientError, match="InvalidIdentityToken"):
        sts.assume_role_with_saml(RoleArn=setup["role"], PrincipalArn=setup["provider"], SAMLAssertion="bm90IHhtbA==")
    with pytest.raises(botocore.exceptions.ClientError, match="MaxSessionDuration"):
        sts.assume_role_with_saml(RoleArn=setup["role"], PrincipalArn=setup["provider"], SAMLAssertion=mismatched, DurationSeconds=7201)


def test_other_unsigned_calls_still_need_a_signature(server: TesseraServer) -> None:
    import urllib.request

    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    request = urllib.request.Request(server.endpoint, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert b"MissingAuthenticationToken" in caught.value.read()


def test_aws_cli(server: TesseraServer, idp: Idp, setup: dict[str, str], tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(HOME=str(tmp_path), AWS_DEFAULT_REGION=REGION, AWS_EC2_METADATA_DISABLED="true", AWS_PAGER="")
    assertion = idp.response(_attrs(setup["role"], setup["provider"]))
    run = subprocess.run(
        [AWS_CLI, "sts", "assume-role-with-saml", "--endpoint-url", server.endpoint, "--role-arn", setup["role"],
         "--principal-arn", setup["provider"], "--saml-assertion", assertion, "--output", "json"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{server.account_id}:assumed-role/SamlRole/alice"
    session = server.client("sts", Credentials.from_response(out["Credentials"]))
    assert session.get_caller_identity()["Arn"] == out["AssumedRoleUser"]["Arn"]


def _pem_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def test_private_keys_and_quota(fresh_server: Any, idp: Idp) -> None:
    server = fresh_server()
    iam = server.client("iam")
    metadata = idp.metadata()
    with pytest.raises(iam.exceptions.InvalidInputException, match="no private key is provided"):
        iam.create_saml_provider(Name="Enc", SAMLMetadataDocument=metadata, AssertionEncryptionMode="Required")
    with pytest.raises(iam.exceptions.InvalidInputException, match="Invalid private key"):
        iam.create_saml_provider(Name="Enc", SAMLMetadataDocument=metadata, AddPrivateKey="not a key")
    arn = iam.create_saml_provider(Name="Enc", SAMLMetadataDocument=metadata, AddPrivateKey=_pem_key())["SAMLProviderArn"]
    iam.update_saml_provider(SAMLProviderArn=arn, AddPrivateKey=_pem_key(), AssertionEncryptionMode="Required")
    got = iam.get_saml_provider(SAMLProviderArn=arn)
    assert got["AssertionEncryptionMode"] == "Required"
    keys = [k["KeyId"] for k in got["PrivateKeyList"]]
    assert len(keys) == 2
    with pytest.raises(iam.exceptions.LimitExceededException, match="Private key limit of 2"):
        iam.update_saml_provider(SAMLProviderArn=arn, AddPrivateKey=_pem_key())
    with pytest.raises(iam.exceptions.InvalidInputException, match="does not match a private key"):
        iam.update_saml_provider(SAMLProviderArn=arn, RemovePrivateKey="A" * 26)
    iam.update_saml_provider(SAMLProviderArn=arn, RemovePrivateKey=keys[0])
    assert [k["KeyId"] for k in iam.get_saml_provider(SAMLProviderArn=arn)["PrivateKeyList"]] == keys[1:]
    # Tessera does not decrypt assertions: a provider that requires encryption accepts none
    role = iam.create_role(
        RoleName="EncRole",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Federated": arn}, "Action": "sts:AssumeRoleWithSAML"}],
            }
        ),
    )["Role"]["Arn"]
    with pytest.raises(botocore.exceptions.ClientError, match="InvalidIdentityToken"):
        _unsigned_sts(server).assume_role_with_saml(RoleArn=role, PrincipalArn=arn, SAMLAssertion=idp.response(_attrs(role, arn)))
    for n in range(99):
        iam.create_saml_provider(Name=f"P{n}", SAMLMetadataDocument=metadata)
    with pytest.raises(iam.exceptions.LimitExceededException, match="SAMLProvidersPerAccount: 100"):
        iam.create_saml_provider(Name="OneTooMany", SAMLMetadataDocument=metadata)


def test_configured_endpoint_and_the_audit_trail(fresh_server: Any, idp: Idp) -> None:
    endpoint = "https://sso.example.test/saml"
    server = fresh_server(extra_args=["--saml-endpoint", endpoint])
    iam = server.client("iam")
    arn = iam.create_saml_provider(Name="Corp", SAMLMetadataDocument=idp.metadata())["SAMLProviderArn"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": arn},
                "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession", "sts:SetSourceIdentity"],
            }
        ],
    }
    role = iam.create_role(RoleName="R", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    sts = _unsigned_sts(server)
    with pytest.raises(botocore.exceptions.ClientError, match="InvalidIdentityToken"):  # names AWS's endpoint
        sts.assume_role_with_saml(RoleArn=role, PrincipalArn=arn, SAMLAssertion=crafted(idp, _attrs(role, arn)))
    attrs = _attrs(role, arn, SourceIdentity=["alice"], TransitiveTagKeys=["team"], **{"PrincipalTag:team": ["id"]})
    assertion = crafted(idp, attrs, recipient=endpoint, destination=endpoint)
    out = sts.assume_role_with_saml(RoleArn=role, PrincipalArn=arn, SAMLAssertion=assertion)
    assert out["Audience"] == endpoint
    secret = out["Credentials"]["SecretAccessKey"]
    assert server.stop() == 0  # flushes the audit trail
    run = subprocess.run(
        [sys.executable, "-m", "tessera", "audit", "--data-dir", server.data_dir, "--json"], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert secret not in run.stdout and assertion[:200] not in run.stdout
    events = [r for r in map(json.loads, run.stdout.splitlines()) if r["eventName"] == "AssumeRoleWithSAML"]
    events.sort(key=lambda e: "errorCode" in e)  # the one that succeeded first (both in the same second)
    assert [e.get("errorCode") for e in events] == [None, "InvalidIdentityToken"]
    assert events[0]["userIdentity"] == {
        "type": "SAMLUser",
        "principalId": f"{out['NameQualifier']}:alice@example.test",
        "userName": "alice@example.test",
        "identityProvider": out["NameQualifier"],
    }
    # as CloudTrail records it: read-only, the credentials recorded with the secret hidden,
    # what the assertion set among the request's parameters, the role and the provider
    event = events[0]
    assert event["readOnly"] is True
    assert event["responseElements"]["credentials"]["accessKeyId"] == out["Credentials"]["AccessKeyId"]
    assert event["responseElements"]["credentials"]["secretAccessKey"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    assert event["requestParameters"]["sAMLAssertion"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    assert {k: event["requestParameters"][k] for k in ("roleArn", "principalArn", "roleSessionName", "sourceIdentity")} == {
        "roleArn": role,
        "principalArn": arn,
        "roleSessionName": "alice",
        "sourceIdentity": "alice",
    }
    assert event["requestParameters"]["principalTags"] == {"team": "id"}
    assert event["requestParameters"]["transitiveTagKeys"] == ["team"]
    assert event["resources"] == [
        {"ARN": role, "accountId": server.account_id, "type": "AWS::IAM::Role"},
        {"ARN": arn, "accountId": server.account_id, "type": "AWS::IAM::SAMLProvider"},
    ]


@pytest.mark.parametrize(("sign_response", "sign_assertion"), [(True, False), (True, True)])
def test_signed_response(server: TesseraServer, idp: Idp, setup: dict[str, str], sign_response: bool, sign_assertion: bool) -> None:
    """pysaml2 signing the whole Response (with or without the Assertion signed too)."""
    b64 = idp.response(_attrs(setup["role"], setup["provider"]), sign_response=sign_response, sign_assertion=sign_assertion)
    out = _unsigned_sts(server).assume_role_with_saml(RoleArn=setup["role"], PrincipalArn=setup["provider"], SAMLAssertion=b64)
    assert out["AssumedRoleUser"]["Arn"].endswith(":assumed-role/SamlRole/alice")


def test_session_duration_and_session_end(server: TesseraServer, idp: Idp, setup: dict[str, str]) -> None:
    """SessionDuration only shortens API credentials (it extends console sessions, never
    these): without DurationSeconds the session lasts min(SessionDuration, one hour), with
    it the shorter of the two; the AuthnStatement's SessionNotOnOrAfter caps both."""
    sts = _unsigned_sts(server)
    role, provider = setup["role"], setup["provider"]

    def expiration(b64: str, role_arn: str = role, **kwargs: Any) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
        before = dt.datetime.now(dt.UTC).replace(microsecond=0)
        out = sts.assume_role_with_saml(RoleArn=role_arn, PrincipalArn=provider, SAMLAssertion=b64, **kwargs)
        after = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=1)
        return before, out["Credentials"]["Expiration"], after

    before, expires, after = expiration(crafted(idp, _attrs(role, provider, SessionDuration=["1200"])))
    assert before + dt.timedelta(seconds=1200) <= expires <= after + dt.timedelta(seconds=1200)
    before, expires, after = expiration(crafted(idp, _attrs(role, provider, SessionDuration=["1200"])), DurationSeconds=3000)
    assert before + dt.timedelta(seconds=1200) <= expires <= after + dt.timedelta(seconds=1200)
    # a role allowing 12 hours and an assertion asking for 12 hours: still one hour by default
    trust = server.client("iam").get_role(RoleName="SamlRole")["Role"]["AssumeRolePolicyDocument"]
    long_role = server.client("iam").create_role(RoleName="SamlLong", AssumeRolePolicyDocument=json.dumps(trust), MaxSessionDuration=43200)
    long_arn = long_role["Role"]["Arn"]
    long_attrs = _attrs(long_arn, provider, SessionDuration=["43200"])
    try:
        before, expires, after = expiration(crafted(idp, long_attrs), long_arn)
        assert before + dt.timedelta(seconds=3600) <= expires <= after + dt.timedelta(seconds=3600)
        before, expires, after = expiration(crafted(idp, long_attrs), long_arn, DurationSeconds=7200)
        assert before + dt.timedelta(seconds=7200) <= expires <= after + dt.timedelta(seconds=7200)
    finally:
        server.client("iam").delete_role(RoleName="SamlLong")
    end = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1000)).replace(microsecond=0)
    _, expires, _ = expiration(crafted(idp, _attrs(role, provider), session_not_on_or_after=end))
    assert expires == end
    with pytest.raises(botocore.exceptions.ClientError, match="ExpiredTokenException"):
        expiration(crafted(idp, _attrs(role, provider), session_not_on_or_after=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)))
    with pytest.raises(botocore.exceptions.ClientError, match="InvalidIdentityToken"):
        expiration(crafted(idp, _attrs(role, provider, SessionDuration=["60"])))


def _with_certificates(metadata: str, count: int) -> str:
    """``metadata`` with its signing KeyDescriptor repeated to hold ``count`` certificates."""
    from lxml import etree

    root = etree.fromstring(metadata.encode())
    md = "urn:oasis:names:tc:SAML:2.0:metadata"
    descriptor = root.find(f"{{{md}}}IDPSSODescriptor")
    key = descriptor.find(f"{{{md}}}KeyDescriptor")
    for n in range(count - len(descriptor.findall(f"{{{md}}}KeyDescriptor"))):
        copy = etree.fromstring(etree.tostring(key))
        certificate = copy.find(".//{http://www.w3.org/2000/09/xmldsig#}X509Certificate")
        _, pem = _key_and_cert(f"extra-{n}")
        certificate.text = "".join(line for line in pem.decode().splitlines() if "-----" not in line)
        key.addnext(copy)
    return str(etree.tostring(root).decode())


def test_a_provider_takes_at_most_ten_certificates(server: TesseraServer, idp: Idp) -> None:
    iam = server.client("iam")
    ten, eleven = _with_certificates(idp.metadata(), 10), _with_certificates(idp.metadata(), 11)
    arn = iam.create_saml_provider(Name="TenCerts", SAMLMetadataDocument=ten)["SAMLProviderArn"]
    try:
        with pytest.raises(iam.exceptions.LimitExceededException, match="at most 10"):
            iam.create_saml_provider(Name="ElevenCerts", SAMLMetadataDocument=eleven)
        with pytest.raises(iam.exceptions.LimitExceededException, match="at most 10"):
            iam.update_saml_provider(SAMLProviderArn=arn, SAMLMetadataDocument=eleven)
        assert iam.get_saml_provider(SAMLProviderArn=arn)["SAMLMetadataDocument"] == ten
    finally:
        iam.delete_saml_provider(SAMLProviderArn=arn)

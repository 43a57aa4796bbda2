"""AssumeRoleWithWebIdentity and the workload credentials endpoint end to end: a real
HTTPS OpenID Connect issuer on loopback (tests/oidc_issuer.py, its own CA made now), a
real ``tessera serve`` on SQLite and PostgreSQL, stock boto3 (the call, the web identity
environment provider, the container provider) and the AWS CLI."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
import botocore
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials as BotoCredentials
from botocore.exceptions import ClientError
from oidc_issuer import OidcIssuer
from policies import unique
from serverproc import CLIENT_CONFIG, REGION, ROOT_SECRET, Credentials, TesseraServer, free_port, start_server
from test_iam_cli import aws_json, run_aws

CLIENT_ID = "sts.amazonaws.com"


def error_of(call: Callable[[], object]) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as info:
        call()
    response = info.value.response
    return str(response["Error"]["Code"]), str(response["Error"]["Message"]), int(response["ResponseMetadata"]["HTTPStatusCode"])


@pytest.fixture(scope="module")
def issuer() -> Iterator[OidcIssuer]:
    with OidcIssuer() as started:
        yield started


@pytest.fixture(scope="module")
def ca_dir(issuer: OidcIssuer) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="tessera-oidc-ca-") as directory:
        issuer.ca_file(Path(directory))
        yield Path(directory)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, ca_dir: Path) -> Iterator[TesseraServer]:
    env = {"TESSERA_OIDC_CA_BUNDLE": str(ca_dir / "oidc-ca.pem"), "TESSERA_OIDC_REFETCH_SECONDS": "0"}
    srv, cleanup = start_server(request.param, env_extra=env)
    try:
        yield srv
    finally:
        cleanup()


@pytest.fixture(scope="module")
def provider(server: TesseraServer, issuer: OidcIssuer) -> str:
    """The issuer registered as an OIDC provider of the server's account (trusted by the CA bundle)."""
    made = server.client("iam").create_open_id_connect_provider(Url=issuer.issuer, ClientIDList=[CLIENT_ID, "other-app"])
    return str(made["OpenIDConnectProviderArn"])


def identifier(issuer: OidcIssuer) -> str:
    return issuer.issuer.removeprefix("https://")


def make_role(
    server: TesseraServer,
    provider_arn: str,
    *,
    actions: list[str] | None = None,
    condition: Mapping[str, Any] | None = None,
    max_session: int = 3600,
    permissions: Mapping[str, Any] | None = None,
) -> str:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Federated": provider_arn},
        "Action": actions or ["sts:AssumeRoleWithWebIdentity"],
    }
    if condition:
        statement["Condition"] = condition
    iam = server.client("iam")
    name = unique("wif")
    arn = iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
        MaxSessionDuration=max_session,
    )["Role"]["Arn"]
    document = permissions or {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"}]}
    iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=json.dumps(document))
    return str(arn)


def unsigned_sts(server: TesseraServer) -> Any:
    config = CLIENT_CONFIG.merge(Config(signature_version=botocore.UNSIGNED))
    return boto3.client("sts", endpoint_url=server.endpoint, region_name=REGION, config=config)


# -- the call ----------------------------------------------------------------------------------
def test_a_token_from_a_registered_provider_assumes_the_role(server: TesseraServer, issuer: OidcIssuer, provider: str) -> None:
    ident = identifier(issuer)
    only_federated = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iam:ListRoles",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:FederatedProvider": provider}},
            }
        ],
    }
    condition = {"StringEquals": {f"{ident}:aud": CLIENT_ID, f"{ident}:sub": "system:serviceaccount:ci:deploy"}}
    role = make_role(server, provider, condition=condition, permissions=only_federated)
    token = issuer.sign({"sub": "system:serviceaccount:ci:deploy", "aud": CLIENT_ID})
    answer = unsigned_sts(server).assume_role_with_web_identity(
        RoleArn=role, RoleSessionName="deploy", WebIdentityToken=token, DurationSeconds=900
    )
    role_name = role.rsplit("/", 1)[1]
    assert answer["SubjectFromWebIdentityToken"] == "system:serviceaccount:ci:deploy"
    assert answer["Audience"] == CLIENT_ID
    assert answer["Provider"] == provider
    assert answer["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{server.account_id}:assumed-role/{role_name}/deploy"
    credentials = answer["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA")
    lifetime = credentials["Expiration"] - dt.datetime.now(dt.UTC)
    assert dt.timedelta(seconds=800) < lifetime <= dt.timedelta(seconds=900)

    session = Credentials.from_response(credentials)
    me = server.client("sts", session).get_caller_identity()
    assert me["Arn"] == answer["AssumedRoleUser"]["Arn"]
    assert server.client("iam", session).list_roles()["Roles"]  # the role's permissions, aws:FederatedProvider in the session
    code, _, _ = error_of(lambda: server.client("iam", session).list_users())
    assert code == "AccessDenied"


def test_a_signed_request_is_accepted_too_and_the_signer_plays_no_part(server: TesseraServer, issuer: OidcIssuer, provider: str) -> None:
    role = make_role(server, provider)
    token = issuer.sign({"sub": "signed", "aud": CLIENT_ID})
    sts = server.client("sts")  # root keys: botocore still sends the call unsigned (its model says no auth)
    assert sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="s1", WebIdentityToken=token)["Audience"] == CLIENT_ID
    form = {
        "Action": "AssumeRoleWithWebIdentity",
        "Version": "2011-06-15",
        "RoleArn": role,
        "RoleSessionName": "s2",
        "WebIdentityToken": token,
    }
    body = urllib.parse.urlencode(form)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    for secret, expected in ((ROOT_SECRET, 200), ("not-the-secret", 403)):
        request = AWSRequest("POST", server.endpoint + "/", data=body, headers=headers)
        SigV4Auth(BotoCredentials(server.root.access_key_id, secret), "sts", REGION).add_auth(request)
        prepared = request.prepare()
        sent = urllib.request.Request(prepared.url, data=body.encode(), headers=dict(prepared.headers.items()), method="POST")
        try:
            with urllib.request.urlopen(sent, timeout=30) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode()
        assert status == expected, text  # a signature, when sent, must hold
        assert ("<SubjectFromWebIdentityToken>signed</SubjectFromWebIdentityToken>" in text) == (expected == 200)


def test_other_unsigned_calls_still_need_a_signature(server: TesseraServer) -> None:
    code, _, status = error_of(lambda: unsigned_sts(server).get_caller_identity())
    assert (code, status) == ("MissingAuthenticationToken", 403)


def test_azp_is_the_audience_when_present_and_amr_is_a_key(server: TesseraServer, issuer: OidcIssuer, provider: str) -> None:
    ident = identifier(issuer)
    condition = {
        "StringEquals": {f"{ident}:aud": "other-app", f"{ident}:oaud": "somewhere-else"},
        "ForAnyValue:StringEquals": {f"{ident}:amr": "mfa"},
    }
    role = make_role(server, provider, condition=condition)
    token = issuer.sign({"sub": "u-azp", "aud": ["somewhere-else"], "azp": "other-app", "amr": ["pwd", "mfa"]})
    assert (
        unsigned_sts(server).assume_role_with_web_identity(RoleArn=role, RoleSessionName="azp", WebIdentityToken=token)["Audience"]
        == "other-app"
    )
    token = issuer.sign({"sub": "u-azp", "aud": ["somewhere-else"], "azp": "other-app", "amr": ["pwd"]})
    code, message, status = error_of(
        lambda: unsigned_sts(server).assume_role_with_web_identity(RoleArn=role, RoleSessionName="azp", WebIdentityToken=token)
    )
    assert (code, message, status) == ("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403)


def test_session_tags_and_source_identity_from_the_token(server: TesseraServer, issuer: OidcIssuer, provider: str) -> None:
    claims = {
        "sub": "tagged",
        "aud": CLIENT_ID,
        "https://aws.amazon.com/tags": {"principal_tags": {"team": ["blue"], "cost": ["42"]}, "transitive_tag_keys": ["team"]},
        "https://aws.amazon.com/source_identity": "alice@example.com",
    }
    permissions = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iam:ListRoles",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalTag/team": "blue"}},
            }
        ],
    }
    everything = ["sts:AssumeRoleWithWebIdentity", "sts:TagSession", "sts:SetSourceIdentity"]
    role = make_role(
        server, provider, actions=everything, condition={"StringEquals": {"aws:RequestTag/team": "blue"}}, permissions=permissions
    )
    answer = unsigned_sts(server).assume_role_with_web_identity(RoleArn=role, RoleSessionName="tags", WebIdentityToken=issuer.sign(claims))
    assert answer["SourceIdentity"] == "alice@example.com"
    session = Credentials.from_response(answer["Credentials"])
    assert server.client("iam", session).list_roles()["Roles"]  # aws:PrincipalTag/team from the token

    for missing in ("sts:TagSession", "sts:SetSourceIdentity"):
        partial = make_role(server, provider, actions=[a for a in everything if a != missing])
        code, message, status = error_of(
            lambda partial=partial: unsigned_sts(server).assume_role_with_web_identity(
                RoleArn=partial, RoleSessionName="tt", WebIdentityToken=issuer.sign(claims)
            )
        )
        assert (code, message, status) == ("AccessDenied", f"Not authorized to perform {missing}", 403)

    # tags breaking the session-tag rules are the token's fault, as for a SAML assertion
    duplicated = {**claims, "https://aws.amazon.com/tags": {"principal_tags": {"team": ["blue"], "Team": ["red"]}}}
    code, _, status = error_of(
        lambda: unsigned_sts(server).assume_role_with_web_identity(
            RoleArn=role, RoleSessionName="tt", WebIdentityToken=issuer.sign(duplicated)
        )
    )
    assert (code, status) == ("InvalidIdentityToken", 400)


def test_duration_up_to_the_roles_maximum(server: TesseraServer, issuer: OidcIssuer, provider: str) -> None:
    role = make_role(server, provider, max_session=7200)
    sts = unsigned_sts(server)
    token = issuer.sign({"sub": "long", "aud": CLIENT_ID})
    assert sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="dd", WebIdentityToken=token, DurationSeconds=7200)
    code, message, status = error_of(
        lambda: sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="dd", WebIdentityToken=token, DurationSeconds=7201)
    )
    assert (code, status) == ("ValidationError", 400) and "MaxSessionDuration" in message


def test_session_policies_narrow_the_session(server: TesseraServer, issuer: OidcIssuer, provider: str) -> None:
    role = make_role(server, provider)
    deny_all = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]})
    answer = unsigned_sts(server).assume_role_with_web_identity(
        RoleArn=role, RoleSessionName="narrow", WebIdentityToken=issuer.sign({"sub": "n", "aud": CLIENT_ID}), Policy=deny_all
    )
    assert answer["PackedPolicySize"] > 0
    code, _, _ = error_of(lambda: server.client("iam", Credentials.from_response(answer["Credentials"])).list_roles())
    assert code == "AccessDenied"


# -- the denied side ----------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned_jwt(header: Mapping[str, Any], claims: Mapping[str, Any], key: bytes | None = None) -> str:
    head = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(key, head.encode(), hashlib.sha256).digest() if key is not None else b""
    return f"{head}.{_b64(signature)}" if key is not None else f"{head}."


def refused_tokens(issuer: OidcIssuer) -> list[tuple[str, str, str]]:
    """(what, token, expected error code)."""
    now = time.time()
    good = {"sub": "mallory", "aud": CLIENT_ID}
    signed = issuer.sign(good)
    head, body, signature = signed.split(".")
    tampered_body = _b64(json.dumps(issuer.claims({"sub": "admin", "aud": CLIENT_ID})).encode())
    other = OidcIssuer()  # never started: only its keys sign
    return [
        ("wrong aud", issuer.sign({"sub": "m", "aud": "not-registered"}), "InvalidIdentityToken"),
        ("wrong iss", issuer.sign({**good, "iss": "https://elsewhere.example.com"}), "InvalidIdentityToken"),
        ("expired", issuer.sign(good, now=now - 7200), "ExpiredTokenException"),
        ("nbf in the future", issuer.sign({**good, "nbf": int(now) + 3600}), "InvalidIdentityToken"),
        ("iat in the future", issuer.sign(good, now=now + 3600), "InvalidIdentityToken"),
        ("alg none", _unsigned_jwt({"alg": "none", "kid": issuer.kid}, issuer.claims(good)), "InvalidIdentityToken"),
        (
            "HS256 keyed with the public key",
            _unsigned_jwt({"alg": "HS256", "kid": issuer.kid}, issuer.claims(good), issuer.public_pem()),
            "InvalidIdentityToken",
        ),
        ("unknown kid", other.sign({**good, "iss": issuer.issuer}, kid=other.kid), "InvalidIdentityToken"),
        ("tampered claims", f"{head}.{tampered_body}.{signature}", "InvalidIdentityToken"),
        ("tampered signature", f"{head}.{body}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}", "InvalidIdentityToken"),
        (
            "signed by another key under a known kid",
            other.sign({**good, "iss": issuer.issuer}, headers={"kid": issuer.kid}),
            "InvalidIdentityToken",
        ),
        ("not a JWT", "not.a.jwt", "InvalidIdentityToken"),
        ("malformed base64", f"{head}.***.{signature}", "InvalidIdentityToken"),
        ("header not JSON", f"{_b64(b'{nope')}.{body}.{signature}", "InvalidIdentityToken"),
        ("oversize", "a" * 20001, "ValidationError"),
    ]


def test_every_refused_token_gets_its_aws_error(server: TesseraServer, issuer: OidcIssuer, provider: str) -> None:
    role = make_role(server, provider)
    sts = unsigned_sts(server)
    for what, token, expected in refused_tokens(issuer):
        code, message, status = error_of(
            lambda token=token: sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="x1", WebIdentityToken=token)
        )
        assert code == expected, (what, code, message)
        assert status == 400, (what, status)


def test_trust_conditions_and_unknown_roles_answer_alike(server: TesseraServer, issuer: OidcIssuer, provider: str) -> None:
    ident = identifier(issuer)
    role = make_role(server, provider, condition={"StringEquals": {f"{ident}:sub": "alice"}})
    sts = unsigned_sts(server)
    token = issuer.sign({"sub": "bob", "aud": CLIENT_ID})
    denied = error_of(lambda: sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="bob", WebIdentityToken=token))
    assert denied == ("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403)
    missing = f"arn:aws:iam::{server.account_id}:role/{unique('nosuch')}"
    assert error_of(lambda: sts.assume_role_with_web_identity(RoleArn=missing, RoleSessionName="bob", WebIdentityToken=token)) == denied
    other_provider = make_role(server, f"arn:aws:iam::{server.account_id}:oidc-provider/idp.example.com")
    assert (
        error_of(lambda: sts.assume_role_with_web_identity(RoleArn=other_provider, RoleSessionName="bob", WebIdentityToken=token)) == denied
    )
    code, _, _ = error_of(
        lambda: sts.assume_role_with_web_identity(RoleArn="arn:aws:iam::bad:role/x", RoleSessionName="bob", WebIdentityToken=token)
    )
    assert code == "ValidationError"
    code, message, _ = error_of(
        lambda: sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="bob", WebIdentityToken=token, ProviderId="www.amazon.com")
    )
    assert code == "InvalidIdentityToken" and "ProviderId" in message


def test_the_issuer_must_be_a_provider_of_the_roles_account(server: TesseraServer, issuer: OidcIssuer, provider: str) -> None:
    role = make_role(server, provider)
    org = server.client("organizations")
    del org  # the provider lives in the role's account: a token is only checked against those
    code, message, _ = error_of(
        lambda: unsigned_sts(server).assume_role_with_web_identity(
            RoleArn=role,
            RoleSessionName="xx",
            WebIdentityToken=issuer.sign({"sub": "x", "aud": CLIENT_ID, "iss": "https://unregistered.example.com/a"}),
        )
    )
    assert (code, message) == (
        "InvalidIdentityToken",
        "No OpenIDConnect provider found in your account for https://unregistered.example.com/a",
    )


def test_the_issuer_must_match_the_provider_url_exactly(server: TesseraServer, issuer: OidcIssuer, provider: str) -> None:
    """A trailing slash is part of a provider's identity (Auth0's issuers end in one): a
    token whose ``iss`` differs from the registered URL by a slash names no provider."""
    bare_role = make_role(server, provider)
    slashed_iss = issuer.issuer + "/"
    token = issuer.sign({"sub": "x", "aud": CLIENT_ID, "iss": slashed_iss})
    code, message, _ = error_of(
        lambda: unsigned_sts(server).assume_role_with_web_identity(RoleArn=bare_role, RoleSessionName="xx", WebIdentityToken=token)
    )
    assert (code, message) == ("InvalidIdentityToken", f"No OpenIDConnect provider found in your account for {slashed_iss}")

    iam = server.client("iam")
    slashed = iam.create_open_id_connect_provider(Url=slashed_iss, ClientIDList=[CLIENT_ID])["OpenIDConnectProviderArn"]
    try:
        ident = identifier(issuer) + "/"
        assert slashed == f"arn:aws:iam::{server.account_id}:oidc-provider/{ident}"
        assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=slashed)["Url"] == ident
        role = make_role(server, slashed, condition={"StringEquals": {f"{ident}:aud": CLIENT_ID, f"{ident}:sub": "x"}})
        answer = unsigned_sts(server).assume_role_with_web_identity(RoleArn=role, RoleSessionName="xx", WebIdentityToken=token)
        assert answer["Provider"] == slashed
        code, _, _ = error_of(  # the bare issuer is the other provider, which this role does not trust
            lambda: unsigned_sts(server).assume_role_with_web_identity(
                RoleArn=role, RoleSessionName="xx", WebIdentityToken=issuer.sign({"sub": "x", "aud": CLIENT_ID})
            )
        )
        assert code == "AccessDenied"
    finally:
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=slashed)


def test_an_unreachable_identity_provider(server: TesseraServer, issuer: OidcIssuer) -> None:
    down = f"https://127.0.0.1:{free_port()}/{unique('down')}"
    arn = server.client("iam").create_open_id_connect_provider(Url=down, ClientIDList=[CLIENT_ID])["OpenIDConnectProviderArn"]
    role = make_role(server, arn)
    token = issuer.sign({"sub": "x", "aud": CLIENT_ID, "iss": down})
    code, _, status = error_of(
        lambda: unsigned_sts(server).assume_role_with_web_identity(RoleArn=role, RoleSessionName="xx", WebIdentityToken=token)
    )
    assert (code, status) == ("IDPCommunicationError", 400)


def test_key_rotation_is_picked_up(server: TesseraServer, issuer: OidcIssuer, provider: str) -> None:
    role = make_role(server, provider)
    sts = unsigned_sts(server)
    assert sts.assume_role_with_web_identity(
        RoleArn=role, RoleSessionName="r1", WebIdentityToken=issuer.sign({"sub": "r", "aud": CLIENT_ID})
    )
    old = issuer.kid
    issuer.rotate("ES256")  # a new current key of another type, published next to the old one
    assert sts.assume_role_with_web_identity(
        RoleArn=role, RoleSessionName="r2", WebIdentityToken=issuer.sign({"sub": "r", "aud": CLIENT_ID})
    )
    assert sts.assume_role_with_web_identity(
        RoleArn=role, RoleSessionName="r3", WebIdentityToken=issuer.sign({"sub": "r", "aud": CLIENT_ID}, kid=old)
    )


# -- the AWS CLI and the SDK's credential providers ------------------------------------------------
def test_the_aws_cli(server: TesseraServer, issuer: OidcIssuer, provider: str) -> None:
    role = make_role(server, provider)
    token = issuer.sign({"sub": "cli-user", "aud": CLIENT_ID})
    anybody = Credentials("AKIAUNUSEDUNUSED0000", "unused")  # the CLI sends this call unsigned
    answer = aws_json(
        server,
        anybody,
        "sts",
        "assume-role-with-web-identity",
        "--role-arn",
        role,
        "--role-session-name",
        "cli",
        "--web-identity-token",
        token,
    )
    assert answer["SubjectFromWebIdentityToken"] == "cli-user" and answer["Credentials"]["AccessKeyId"].startswith("ASIA")
    done = run_aws(
        server,
        anybody,
        "sts",
        "assume-role-with-web-identity",
        "--role-arn",
        role,
        "--role-session-name",
        "cli",
        "--web-identity-token",
        "x.y.z",
    )
    assert done.returncode != 0 and "InvalidIdentityToken" in done.stderr


def _provider_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_EC2_METADATA_DISABLED="true", AWS_DEFAULT_REGION=REGION
    )
    env.update(extra)
    return env


WHO_AM_I = """
import boto3, json, os
session = boto3.Session()
sts = session.client("sts", endpoint_url=os.environ["TESSERA_TEST_ENDPOINT"])
arns = [sts.get_caller_identity()["Arn"] for _ in range(int(os.environ.get("TESSERA_TEST_CALLS", "1")))]
frozen = session.get_credentials().get_frozen_credentials()
print(json.dumps({"arns": arns, "method": session.get_credentials().method, "key": frozen.access_key}))
"""


def who_am_i(server: TesseraServer, env: Mapping[str, str], calls: int = 1) -> dict[str, Any]:
    """The caller identity a fresh boto3 process finds with only ``env`` to go on."""
    full = _provider_env({**env, "TESSERA_TEST_ENDPOINT": server.endpoint, "TESSERA_TEST_CALLS": str(calls)})
    done = subprocess.run([sys.executable, "-c", WHO_AM_I], env=full, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_the_web_identity_environment_provider(server: TesseraServer, issuer: OidcIssuer, provider: str, tmp_path: Path) -> None:
    role = make_role(server, provider)
    token_file = tmp_path / "token"
    token_file.write_text(issuer.sign({"sub": "pod", "aud": CLIENT_ID}))
    env = {
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
        "AWS_ROLE_ARN": role,
        "AWS_ROLE_SESSION_NAME": "env-pod",
        "AWS_ENDPOINT_URL_STS": server.endpoint,
    }
    found = who_am_i(server, env)
    assert found["method"] == "assume-role-with-web-identity"
    assert found["arns"] == [f"arn:aws:sts::{server.account_id}:assumed-role/{role.rsplit('/', 1)[1]}/env-pod"]


def test_the_container_credentials_provider(server: TesseraServer, issuer: OidcIssuer, provider: str, tmp_path: Path) -> None:
    role = make_role(server, provider)
    token_file = tmp_path / "token"
    token_file.write_text(issuer.sign({"sub": "system:serviceaccount:web:api", "aud": CLIENT_ID}))
    uri = f"{server.endpoint}/workload-credentials?{urllib.parse.urlencode({'RoleArn': role})}"
    found = who_am_i(server, {"AWS_CONTAINER_CREDENTIALS_FULL_URI": uri, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(token_file)})
    assert found["method"] == "container-role"
    # no RoleSessionName: derived from sub, whose ':' is not allowed in a session name
    name = found["arns"][0].rsplit("/", 1)[1]
    digest = hashlib.sha256(b"system:serviceaccount:web:api").hexdigest()[:16]
    assert name == f"system-serviceaccount-web-api-{digest}"


def fetch(server: TesseraServer, query: Mapping[str, str], token: str | None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"{server.endpoint}/workload-credentials?{urllib.parse.urlencode(query)}")
    if token is not None:
        request.add_header("Authorization", token)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_the_workload_endpoint_answers_and_refuses_in_json(server: TesseraServer, issuer: OidcIssuer, provider: str) -> None:
    ident = identifier(issuer)
    role = make_role(server, provider, condition={"StringEquals": {f"{ident}:sub": "worker"}})
    token = issuer.sign({"sub": "worker", "aud": CLIENT_ID})
    status, body = fetch(server, {"RoleArn": role, "RoleSessionName": "w1"}, token)
    assert status == 200 and set(body) == {"AccessKeyId", "SecretAccessKey", "Token", "Expiration", "AccountId"}
    assert body["AccountId"] == server.account_id and body["Expiration"].endswith("Z")
    expiration = dt.datetime.strptime(body["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    assert dt.timedelta(minutes=55) < expiration - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=1)
    session = Credentials(body["AccessKeyId"], body["SecretAccessKey"], body["Token"])
    assert server.client("sts", session).get_caller_identity()["Arn"].endswith("/w1")

    assert fetch(server, {"RoleArn": role}, None) == (
        400,
        {"Code": "InvalidIdentityToken", "Message": "The Authorization header must carry the workload's OpenID Connect ID token."},
    )
    assert fetch(server, {}, token)[0] == 400
    assert fetch(server, {"RoleArn": role, "Other": "x"}, token)[1]["Code"] == "ValidationError"
    assert fetch(server, {"RoleArn": role, "RoleSessionName": "bad name"}, token)[1]["Code"] == "ValidationError"
    assert fetch(server, {"RoleArn": role}, "garbage")[1]["Code"] == "InvalidIdentityToken"
    assert (
        fetch(server, {"RoleArn": role}, issuer.sign({"sub": "worker", "aud": CLIENT_ID}, now=time.time() - 7200))[1]["Code"]
        == "ExpiredTokenException"
    )
    denied = fetch(server, {"RoleArn": role}, issuer.sign({"sub": "intruder", "aud": CLIENT_ID}))
    assert denied == (403, {"Code": "AccessDenied", "Message": "Not authorized to perform sts:AssumeRoleWithWebIdentity"})


# -- processes of their own: the thumbprint, the refetch limit, renewal, the audit trail -----------
def test_thumbprint_trust_and_the_refetch_limit(issuer: OidcIssuer) -> None:
    """A server not given the issuer's CA trusts it only through the provider's
    ThumbprintList; with the default refetch limit a flood of unknown kids costs the
    issuer one fetch."""
    with OidcIssuer() as pinned:
        srv, cleanup = start_server("sqlite", env_extra={"TESSERA_OIDC_REFETCH_SECONDS": "3600"})
        try:
            iam, sts = srv.client("iam"), unsigned_sts(srv)
            arn = iam.create_open_id_connect_provider(Url=pinned.issuer, ClientIDList=[CLIENT_ID], ThumbprintList=["0" * 40])[
                "OpenIDConnectProviderArn"
            ]
            role = make_role(srv, arn)
            token = pinned.sign({"sub": "t", "aud": CLIENT_ID})
            code, message, _ = error_of(
                lambda: sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="tt", WebIdentityToken=token)
            )
            assert (code, message) == (
                "InvalidIdentityToken",
                "OpenIDConnect provider's HTTPS certificate doesn't match configured thumbprint",
            )
            iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn, ThumbprintList=[pinned.thumbprint])
            assert sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="tt", WebIdentityToken=token)["Audience"] == CLIENT_ID

            before = pinned.request_count
            stranger = OidcIssuer()
            for n in range(20):
                flood = stranger.sign({"sub": "t", "aud": CLIENT_ID, "iss": pinned.issuer}, headers={"kid": f"unknown-{n}"})
                assert (
                    error_of(
                        lambda flood=flood: sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="tt", WebIdentityToken=flood)
                    )[0]
                    == "InvalidIdentityToken"
                )
            assert pinned.request_count - before <= 2  # at most one discovery + JWKS pair
            assert sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="tt", WebIdentityToken=token)  # cached keys still serve
            srv.stop()  # flushes the audit trail
            accepted = [e for e in audit_events(srv) if e["eventName"] == "AssumeRoleWithWebIdentity" and "errorCode" not in e]
            assert accepted and all(
                e["additionalEventData"] == {"identityProviderConnectionVerificationMethod": "Thumbprint"} for e in accepted
            )
        finally:
            cleanup()


def test_container_credentials_are_renewed_and_every_fetch_is_audited(issuer: OidcIssuer, ca_dir: Path, tmp_path: Path) -> None:
    """The server's clock runs 840 s behind (signatures tolerate 15 minutes): 900-second
    credentials expire a minute from now by the client's clock, inside botocore's
    mandatory refresh window, so every use refetches."""
    offset = -840
    env = {"TESSERA_OIDC_CA_BUNDLE": str(ca_dir / "oidc-ca.pem"), "TESSERA_CLOCK_OFFSET_SECONDS": str(offset)}
    srv, cleanup = start_server("sqlite", env_extra=env)
    try:
        arn = srv.client("iam").create_open_id_connect_provider(Url=issuer.issuer, ClientIDList=[CLIENT_ID])["OpenIDConnectProviderArn"]
        role = make_role(srv, arn, actions=["sts:AssumeRoleWithWebIdentity", "sts:TagSession", "sts:SetSourceIdentity"])
        token_file = tmp_path / "token"
        claims = {
            "sub": "renewed",
            "aud": CLIENT_ID,
            "https://aws.amazon.com/tags": {"principal_tags": {"team": ["web"]}, "transitive_tag_keys": ["team"]},
            "https://aws.amazon.com/source_identity": "renewer",
        }
        token_file.write_text(issuer.sign(claims, now=time.time() + offset))
        query = {"RoleArn": role, "RoleSessionName": "renew", "DurationSeconds": "900"}
        uri = f"{srv.endpoint}/workload-credentials?{urllib.parse.urlencode(query)}"
        found = who_am_i(
            srv, {"AWS_CONTAINER_CREDENTIALS_FULL_URI": uri, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(token_file)}, calls=3
        )
        assert len(set(found["arns"])) == 1 and found["arns"][0].endswith("/renew")
        status, _ = fetch(srv, {"RoleArn": role}, "garbage")
        assert status == 400
        assert fetch(srv, {"RoleArn": role}, None)[1]["Code"] == "InvalidIdentityToken"
        srv.stop()  # flushes the audit trail
        events = audit_events(srv)
        fetched = [e for e in events if e["eventName"] == "AssumeRoleWithWebIdentity" and "errorCode" not in e]
        assert len(fetched) >= 3  # the first fetch and at least one renewal per further call
        assert found["key"] in {e["responseElements"]["credentials"]["accessKeyId"] for e in fetched}
        identity = fetched[0]["userIdentity"]
        assert identity == {
            "type": "WebIdentityUser",
            "principalId": f"{arn}:{CLIENT_ID}:renewed",
            "userName": "renewed",
            "identityProvider": arn,
        }
        assert fetched[0]["requestParameters"]["webIdentityToken"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
        assert fetched[0]["recipientAccountId"] == srv.account_id
        # as CloudTrail records it: read-only, the secret hidden, what the token set, the role,
        # and how the identity provider's server was trusted (here the CA bundle: the trust store)
        assert fetched[0]["readOnly"] is True
        assert fetched[0]["responseElements"]["credentials"]["secretAccessKey"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
        parameters = fetched[0]["requestParameters"]
        assert (parameters["roleSessionName"], parameters["sourceIdentity"]) == ("renew", "renewer")
        assert (parameters["principalTags"], parameters["transitiveTagKeys"]) == ({"team": "web"}, ["team"])
        assert fetched[0]["resources"] == [{"ARN": role, "accountId": srv.account_id, "type": "AWS::IAM::Role"}]
        assert fetched[0]["additionalEventData"] == {"identityProviderConnectionVerificationMethod": "IAMTrustStore"}
        failed = [e for e in events if e["eventName"] == "AssumeRoleWithWebIdentity" and e.get("errorCode") == "InvalidIdentityToken"]
        assert len(failed) == 2 and all(e["userIdentity"] == {"type": "WebIdentityUser"} for e in failed)
        # refused before the token was read (garbage, then none): the role and its account are still named
        for refused in failed:
            assert refused["recipientAccountId"] == srv.account_id
            assert refused["requestParameters"]["roleArn"] == role
            assert refused["resources"] == [{"ARN": role, "accountId": srv.account_id, "type": "AWS::IAM::Role"}]
    finally:
        cleanup()


def audit_events(server: TesseraServer) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "tessera", "audit", "--data-dir", server.data_dir, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]  # one JSON record a line


def raw_call(server: TesseraServer, body: bytes | None, query: str = "", headers: Mapping[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(
        f"{server.endpoint}/{'?' + query if query else ''}", data=body, method="POST" if body is not None else "GET"
    )
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_only_the_unsigned_operation_is_served_unsigned(server: TesseraServer) -> None:
    missing = (403, "MissingAuthenticationToken")
    cases = [
        b"Action=GetCallerIdentity&Version=2011-06-15&Note=AssumeRoleWithWebIdentity",
        b"Action=AssumeRoleWithWebIdentity&Version=2010-05-08&RoleArn=x&RoleSessionName=xx&WebIdentityToken=abcd",
        b"Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::111122223333:role/AssumeRoleWith&RoleSessionName=xx",
        b"Action=AssumeRoleWithWebIdentity&Version=2011-06-15&X=%ZZ",
    ]
    for body in cases:
        status, text = raw_call(server, body)
        assert (status, "MissingAuthenticationToken" in text) == (missing[0], True), (body, text)
    status, text = raw_call(server, b"Action=AssumeRoleWithWebIdentity", headers={"X-Amz-Target": "AWSOrganizationsV20161128.ListAccounts"})
    assert "MissingAuthenticationToken" in text  # the Organizations protocol's own rendering of it
    role = f"arn:aws:iam::{server.account_id}:role/nobody"
    query = urllib.parse.urlencode(
        {
            "Action": "AssumeRoleWithWebIdentity",
            "Version": "2011-06-15",
            "RoleArn": role,
            "RoleSessionName": "get",
            "WebIdentityToken": "a.b.c",
        }
    )
    status, text = raw_call(server, None, query)  # a GET, as AWS also takes it
    assert status == 400 and "<Code>InvalidIdentityToken</Code>" in text


def test_the_audit_trail_keeps_the_signer_of_a_signed_federated_call(issuer: OidcIssuer, ca_dir: Path) -> None:
    """A signed AssumeRoleWithWebIdentity or AssumeRoleWithSAML is recorded as the
    federated user (CloudTrail's userIdentity), with the key that signed it in
    ``additionalEventData.signedBy``; an unsigned one has no signer."""
    srv, cleanup = start_server("sqlite", env_extra={"TESSERA_OIDC_CA_BUNDLE": str(ca_dir / "oidc-ca.pem")})
    try:
        arn = srv.client("iam").create_open_id_connect_provider(Url=issuer.issuer, ClientIDList=[CLIENT_ID])["OpenIDConnectProviderArn"]
        role = make_role(srv, arn)
        token = issuer.sign({"sub": "audited", "aud": CLIENT_ID})
        # the signed call comes first: the issuer's keys are not cached yet, so its handler
        # starts on the event loop and runs again in the thread pool to fetch them
        calls = [
            {"Action": "AssumeRoleWithWebIdentity", "RoleArn": role, "RoleSessionName": "signed", "WebIdentityToken": token},
            {"Action": "AssumeRoleWithWebIdentity", "RoleArn": role, "RoleSessionName": "bad", "WebIdentityToken": "not.a.jwt"},
            {"Action": "AssumeRoleWithSAML", "RoleArn": role, "PrincipalArn": arn, "SAMLAssertion": "bm90IGEgcmVzcG9uc2U="},
        ]
        statuses = []
        for form in calls:
            body = urllib.parse.urlencode({**form, "Version": "2011-06-15"})
            request = AWSRequest("POST", srv.endpoint + "/", data=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
            SigV4Auth(BotoCredentials(srv.root.access_key_id, ROOT_SECRET), "sts", REGION).add_auth(request)
            sent = urllib.request.Request(srv.endpoint + "/", data=body.encode(), headers=dict(request.prepare().headers.items()))
            try:
                with urllib.request.urlopen(sent, timeout=30) as response:
                    statuses.append(response.status)
            except urllib.error.HTTPError as error:
                statuses.append(error.code)
        assert statuses == [200, 400, 400]
        unsigned_sts(srv).assume_role_with_web_identity(RoleArn=role, RoleSessionName="unsigned", WebIdentityToken=token)
        srv.stop()  # flushes the audit trail
        events = [e for e in audit_events(srv) if e["eventName"].startswith("AssumeRoleWith")]
    finally:
        cleanup()
    by_session = {e["requestParameters"].get("roleSessionName", "saml"): e for e in events}
    assert "signedBy" not in by_session["unsigned"].get("additionalEventData", {})
    for name in ("signed", "bad", "saml"):
        assert by_session[name]["additionalEventData"]["signedBy"] == srv.root.access_key_id
    # the signer and how the identity provider's server was trusted, side by side
    assert by_session["signed"]["additionalEventData"] == {
        "signedBy": srv.root.access_key_id,
        "identityProviderConnectionVerificationMethod": "IAMTrustStore",
    }
    assert by_session["unsigned"]["additionalEventData"] == {"identityProviderConnectionVerificationMethod": "IAMTrustStore"}
    assert by_session["signed"]["userIdentity"]["type"] == "WebIdentityUser"
    assert by_session["signed"]["recipientAccountId"] == srv.account_id

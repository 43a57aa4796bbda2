"""AssumeRoleWithWebIdentity with tokens from an independent OpenID provider: the npm
``oidc-provider`` package (tests/openid_provider.py, tests/js/oidc_idp.mjs) over HTTPS on
loopback, its certificate from a CA made for the test. Tessera discovers the provider's
JWKS itself and must accept exactly the tokens its trust policies allow."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from openid_provider import Client, OpenIDProvider, claims, openid_provider, register, web_identity_trust
from serverproc import CLIENT_CONFIG, REGION, Credentials, TesseraServer

WORKLOAD = Client("ci-workload", "ci-workload-secret-0123456789")
OTHER = Client("other-workload", "other-workload-secret-0123456789")


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenIDProvider]:
    with openid_provider(tmp_path_factory.mktemp("idp"), [WORKLOAD, OTHER]) as provider:
        yield provider


def b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_the_provider_issues_rs256_jwts_with_their_key_at_the_discovered_jwks_uri(idp: OpenIDProvider) -> None:
    discovery = idp.discovery()
    assert discovery["issuer"] == idp.issuer
    token = idp.token()
    header_b64, payload_b64, signature_b64 = token.split(".")
    header = json.loads(b64url(header_b64))
    assert header["alg"] == "RS256"
    jwks = idp.get(discovery["jwks_uri"].removeprefix(idp.issuer))
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    public = rsa.RSAPublicNumbers(int.from_bytes(b64url(jwk["e"])), int.from_bytes(b64url(jwk["n"]))).public_key()
    public.verify(b64url(signature_b64), f"{header_b64}.{payload_b64}".encode(), padding.PKCS1v15(), hashes.SHA256())
    payload = claims(token)
    assert (payload["iss"], payload["sub"], payload["aud"]) == (idp.issuer, WORKLOAD.client_id, idp.audience)
    assert payload["exp"] > payload["iat"]


def unsigned_sts(server: TesseraServer) -> Any:
    return boto3.client(
        "sts",
        endpoint_url=server.endpoint,
        region_name=REGION,
        config=CLIENT_CONFIG.merge(Config(signature_version=UNSIGNED)),
        verify=server.ca_file,
    )


def make_role(server: TesseraServer, name: str, trust: str) -> str:
    return str(server.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"])


def test_a_token_from_the_provider_gets_role_credentials(server: TesseraServer, idp: OpenIDProvider) -> None:
    provider_arn = register(server.client("iam"), idp)
    role_arn = make_role(
        server,
        "idp-workload",
        web_identity_trust(provider_arn, {f"{idp.host}:sub": WORKLOAD.client_id, f"{idp.host}:aud": idp.audience}),
    )
    answer = unsigned_sts(server).assume_role_with_web_identity(
        RoleArn=role_arn, RoleSessionName="from-oidc-provider", WebIdentityToken=idp.token()
    )
    assert answer["SubjectFromWebIdentityToken"] == WORKLOAD.client_id
    assert answer["Audience"] == idp.audience
    assert answer["Provider"].endswith(idp.host)
    session = Credentials.from_response(answer["Credentials"])
    caller = server.client("sts", session).get_caller_identity()
    assert caller["Arn"] == f"arn:aws:sts::{server.account_id}:assumed-role/idp-workload/from-oidc-provider"


@pytest.mark.parametrize(
    ("role", "claim", "value"),
    [("idp-other-sub", "sub", OTHER.client_id), ("idp-other-aud", "aud", "some-other-audience")],
)
def test_a_trust_policy_whose_sub_or_aud_differs_refuses_the_token(
    server: TesseraServer, idp: OpenIDProvider, role: str, claim: str, value: str
) -> None:
    provider_arn = register(server.client("iam"), idp)
    wanted = {f"{idp.host}:sub": WORKLOAD.client_id, f"{idp.host}:aud": idp.audience} | {f"{idp.host}:{claim}": value}
    role_arn = make_role(server, role, web_identity_trust(provider_arn, wanted))
    with pytest.raises(ClientError) as refused:
        unsigned_sts(server).assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="refused", WebIdentityToken=idp.token())
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_the_provider_trusted_through_a_ca_bundle_instead_of_a_thumbprint(
    fresh_server: Callable[..., TesseraServer], idp: OpenIDProvider
) -> None:
    server = fresh_server(env_extra={"TESSERA_OIDC_CA_BUNDLE": str(idp.ca_file)})
    provider_arn = register(server.client("iam"), idp, thumbprint=False)
    role_arn = make_role(server, "idp-ca-bundle", web_identity_trust(provider_arn, {f"{idp.host}:sub": WORKLOAD.client_id}))
    answer = unsigned_sts(server).assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="ca-bundle", WebIdentityToken=idp.token())
    assert answer["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{server.account_id}:assumed-role/idp-ca-bundle/ca-bundle"

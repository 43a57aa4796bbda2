"""AssumeRoleWithWebIdentity with tokens from an independent OpenID provider: the npm
``oidc-provider`` package (tests/openid_provider.py, tests/js/oidc_idp.mjs) over HTTPS on
loopback, its certificate from a CA made for the test. Tessera discovers the provider's
JWKS itself and must accept exactly the tokens its trust policies allow."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from openid_provider import Client, OpenIDProvider, claims, openid_provider

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

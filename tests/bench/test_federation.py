"""The federation benchmark's identity provider and request targets: tokens that verify
against the JWKS it serves over HTTPS, distinct targets, and flood tokens whose key id
it never published."""

from __future__ import annotations

import base64
import json
import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bench import federation

ROLE_ARN = "arn:aws:iam::123456789012:role/bench-web-identity"


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[federation.Issuer]:
    with federation.issuer(tmp_path_factory.mktemp("idp")) as issuer:
        yield issuer


def b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def fetch(idp: federation.Issuer, url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10, context=ssl.create_default_context(cafile=str(idp.ca_file))) as response:
        return json.load(response)


def test_tokens_verify_with_the_key_at_the_discovered_jwks_uri(idp: federation.Issuer) -> None:
    discovery = fetch(idp, f"{idp.issuer}/.well-known/openid-configuration")
    assert discovery["issuer"] == idp.issuer
    before = len(idp.jwks_times)
    (jwk,) = fetch(idp, discovery["jwks_uri"])["keys"]
    assert len(idp.jwks_times) == before + 1
    header, payload, signature = idp.token().split(".")
    assert json.loads(b64url(header)) == {"alg": "RS256", "typ": "JWT", "kid": jwk["kid"]}
    public = rsa.RSAPublicNumbers(int.from_bytes(b64url(jwk["e"])), int.from_bytes(b64url(jwk["n"]))).public_key()
    public.verify(b64url(signature), f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
    claims = json.loads(b64url(payload))
    assert (claims["iss"], claims["aud"], claims["sub"]) == (idp.issuer, federation.AUDIENCE, federation.SUBJECT)


def test_web_identity_targets_are_distinct_and_flood_kids_are_unknown(idp: federation.Issuer, tmp_path: Path) -> None:
    good = federation.web_identity_targets(tmp_path / "good.txt", idp, ROLE_ARN, 5)
    flood = federation.web_identity_targets(tmp_path / "flood.txt", idp, ROLE_ARN, 5, unknown_kid=True)
    for targets, known in ((good, True), (flood, False)):
        params = [dict(parse_qsl(t.partition("?")[2])) for t in targets]
        assert len({p["WebIdentityToken"] for p in params}) == 5
        assert [p["RoleSessionName"] for p in params] == [f"bench-{i:05d}" for i in range(5)]
        kids = {json.loads(b64url(p["WebIdentityToken"].split(".")[0]))["kid"] for p in params}
        assert (kids == {federation.KID}) is known
        assert len(kids) == (1 if known else 5)

"""ID token parsing and verification (tessera.auth.id_tokens): tokens signed by PyJWT with
real keys, every refusal with STS's error code."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tessera.auth import id_tokens
from tessera.errors import ExpiredTokenException, InvalidIdentityTokenException

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
EC384_KEY = ec.generate_private_key(ec.SECP384R1())


def jwk(key: Any, kid: str, **extra: str) -> dict[str, Any]:
    encoder = ECAlgorithm if isinstance(key, ec.EllipticCurvePrivateKey) else RSAAlgorithm
    found = dict(encoder.to_jwk(key.public_key(), as_dict=True))
    found.update(kid=kid, **extra)
    return found


JWKS = [jwk(RSA_KEY, "rsa"), jwk(EC_KEY, "ec"), jwk(EC384_KEY, "ec384")]


def claims(**extra: Any) -> dict[str, Any]:
    at = int(NOW.timestamp())
    return {"iss": "https://idp.example.com", "sub": "alice", "aud": "app", "iat": at, "exp": at + 600, **extra}


def sign(body: Mapping[str, Any] | None = None, key: Any = RSA_KEY, alg: str = "RS256", kid: str | None = "rsa") -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(dict(body or claims()), key, algorithm=alg, headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


RS256_HEADER = b64(b'{"alg":"RS256"}')
NAN_BODY = b'{"iss":"i","sub":"s","aud":"a","exp":NaN}'


@pytest.mark.parametrize(
    ("alg", "key", "kid"),
    [
        ("RS256", RSA_KEY, "rsa"),
        ("RS384", RSA_KEY, "rsa"),
        ("RS512", RSA_KEY, "rsa"),
        ("PS256", RSA_KEY, "rsa"),
        ("PS384", RSA_KEY, "rsa"),
        ("PS512", RSA_KEY, "rsa"),
        ("ES256", EC_KEY, "ec"),
        ("ES384", EC384_KEY, "ec384"),
    ],
)
def test_every_accepted_algorithm_verifies(alg: str, key: Any, kid: str) -> None:
    token = id_tokens.parse(sign(key=key, alg=alg, kid=kid))
    id_tokens.verify_signature(token, JWKS)
    id_tokens.check_times(token.claims, NOW)
    assert id_tokens.audience(token.claims, ["app"]) == "app"
    assert (token.issuer, token.subject, token.kid) == ("https://idp.example.com", "alice", kid)


def test_a_token_without_kid_is_tried_against_the_keys_of_its_type() -> None:
    id_tokens.verify_signature(id_tokens.parse(sign(kid=None)), JWKS)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a.b",
        "a.b.c.d",
        "..",
        "e30.e30.",  # empty signature
        f"{b64(b'[]')}.{b64(b'{}')}.AAAA",  # header not an object
        f"{b64(b'{nope')}.{b64(b'{}')}.AAAA",
        "e30=.e30.AAAA",  # padding is not base64url
        "e3+0.e30.AAAA",
    ],
)
def test_malformed_tokens_are_not_a_jwt(text: str) -> None:
    with pytest.raises(InvalidIdentityTokenException, match="not a valid JWT"):
        id_tokens.parse(text)


def test_alg_none_hmac_and_unknown_algorithms_are_refused_before_any_key() -> None:
    body = b64(json.dumps(claims()).encode())
    for header in ({"alg": "none"}, {"alg": "HS256", "kid": "rsa"}, {"alg": "EdDSA"}, {"alg": "RS1"}, {}, {"alg": 5}):
        with pytest.raises(InvalidIdentityTokenException, match="Unsupported signing algorithm"):
            id_tokens.parse(f"{b64(json.dumps(header).encode())}.{body}.AAAA")


def test_a_key_is_used_only_for_its_own_family_and_curve() -> None:
    # an RS256 token naming the EC key, an ES256 token naming the P-384 key: no suitable key
    with pytest.raises(InvalidIdentityTokenException, match="Couldn't retrieve verification key"):
        id_tokens.verify_signature(id_tokens.parse(sign(kid="ec")), JWKS)
    with pytest.raises(InvalidIdentityTokenException, match="Couldn't retrieve verification key"):
        id_tokens.verify_signature(id_tokens.parse(sign(key=EC_KEY, alg="ES256", kid="ec384")), JWKS)
    pinned = [jwk(RSA_KEY, "rsa", alg="RS512")]
    with pytest.raises(InvalidIdentityTokenException, match="Couldn't retrieve verification key"):
        id_tokens.verify_signature(id_tokens.parse(sign(alg="RS256")), pinned)
    encryption = [jwk(RSA_KEY, "rsa", use="enc")]
    with pytest.raises(InvalidIdentityTokenException, match="Couldn't retrieve verification key"):
        id_tokens.verify_signature(id_tokens.parse(sign()), encryption)


def test_a_wrong_or_tampered_signature_is_refused() -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(InvalidIdentityTokenException, match="signature"):
        id_tokens.verify_signature(id_tokens.parse(sign(key=other)), JWKS)
    head, _, signature = sign().split(".")
    tampered = f"{head}.{b64(json.dumps(claims(sub='admin')).encode())}.{signature}"
    with pytest.raises(InvalidIdentityTokenException, match="signature"):
        id_tokens.verify_signature(id_tokens.parse(tampered), JWKS)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({"iss": None}, "'iss'"),
        ({"sub": ""}, "'sub'"),
        ({"exp": None}, "'exp'"),
        ({"exp": "tomorrow"}, "'exp'"),
        ({"exp": True}, "'exp'"),
        ({"exp": 10**400}, "'exp'"),
        ({"nbf": "soon"}, "'nbf'"),
        ({"aud": None}, "audience"),
        ({"aud": []}, "audience"),
        ({"aud": ["app", 5]}, "audience"),
    ],
)
def test_claims_sts_needs(body: dict[str, Any], match: str) -> None:
    full = {k: v for k, v in {**claims(), **body}.items() if v is not None}
    text = f"{RS256_HEADER}.{b64(json.dumps(full).encode())}.AAAA"
    with pytest.raises(InvalidIdentityTokenException, match=match):
        id_tokens.parse(text)


def test_nan_and_infinity_are_not_json() -> None:
    text = f"{RS256_HEADER}.{b64(NAN_BODY)}.AAAA"
    with pytest.raises(InvalidIdentityTokenException, match="not a valid JWT"):
        id_tokens.parse(text)


def test_times_with_five_minutes_of_skew() -> None:
    at = int(NOW.timestamp())
    id_tokens.check_times(claims(exp=at - 299), NOW)
    with pytest.raises(
        ExpiredTokenException, match=f"Token expired: current date/time {at} must be before the expiration date/time {at - 300}"
    ):
        id_tokens.check_times(claims(exp=at - 300), NOW)
    id_tokens.check_times(claims(nbf=at + 300, iat=at + 300), NOW)
    with pytest.raises(InvalidIdentityTokenException, match="not yet valid"):
        id_tokens.check_times(claims(nbf=at + 301), NOW)
    with pytest.raises(InvalidIdentityTokenException, match="issued in the future"):
        id_tokens.check_times(claims(iat=at + 301), NOW)


def test_the_audience_is_azp_when_present_else_one_of_aud() -> None:
    assert id_tokens.audience(claims(aud=["x", "app"]), ["app"]) == "app"
    assert id_tokens.audience(claims(aud=["x"], azp="app"), ["app"]) == "app"
    with pytest.raises(InvalidIdentityTokenException, match="Incorrect token audience"):
        id_tokens.audience(claims(aud="app", azp="other"), ["app"])
    with pytest.raises(InvalidIdentityTokenException, match="Incorrect token audience"):
        id_tokens.audience(claims(aud="other"), ["app"])


def test_tokens_over_the_aws_limit_are_refused() -> None:
    with pytest.raises(InvalidIdentityTokenException):
        id_tokens.parse("a" * (id_tokens.MAX_TOKEN_CHARS + 1))


def test_deeply_nested_json_is_not_a_jwt() -> None:
    deep = b'{"alg":"RS256","x":' + b"[" * 6000 + b"]" * 6000 + b"}"
    with pytest.raises(InvalidIdentityTokenException, match="not a valid JWT"):
        id_tokens.parse(f"{b64(deep)}.{b64(b'{}')}.AAAA")


def test_keys_that_do_not_load_are_skipped() -> None:
    junk = [
        {"kid": "rsa", "kty": "RSA", "n": "!!", "e": "AQAB"},
        {"kid": "rsa", "kty": "RSA", "n": 5, "e": None},
        {"kid": "rsa", "kty": "RSA"},
        {"kid": "rsa", "kty": "RSA", "n": b64(b"\x01\x00"), "e": "AQAB"},  # a 9-bit modulus
    ]
    with pytest.raises(InvalidIdentityTokenException, match="signature"):
        id_tokens.verify_signature(id_tokens.parse(sign()), junk)
    id_tokens.verify_signature(id_tokens.parse(sign()), [*junk, jwk(RSA_KEY, "rsa")])


def test_a_published_key_is_loaded_once_and_by_its_own_members(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loaded keys are kept by the members that make them: the same JWK is loaded once,
    and a key republished under the same kid with other members is loaded anew (never
    the old key)."""
    loads: list[str] = []
    load = id_tokens._load_public_key

    def counting(verifier: Any, published: Any, curve: str | None) -> Any:
        loads.append(str(published.get("kid")))
        return load(verifier, published, curve)

    monkeypatch.setattr(id_tokens, "_load_public_key", counting)
    first = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rotated = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = id_tokens.parse(sign(key=first, kid="same"))
    for _ in range(3):
        id_tokens.verify_signature(token, [jwk(first, "same")])
    assert loads == ["same"]
    with pytest.raises(InvalidIdentityTokenException, match="signature does not verify"):
        id_tokens.verify_signature(token, [jwk(rotated, "same")])  # the kid's new key: not the cached one
    id_tokens.verify_signature(id_tokens.parse(sign(key=rotated, kid="same")), [jwk(rotated, "same")])
    assert loads == ["same", "same"]


def _reference_b64(part: str) -> bytes | None:
    """Strict base64url as ``_b64`` decoded it first (a ``str`` translated), None for a refusal."""
    import binascii
    import re

    if re.fullmatch(r"[A-Za-z0-9_-]+", part) is None:
        return None
    try:
        return base64.b64decode(part.translate(str.maketrans("-_", "+/")) + "=" * (-len(part) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=96).map(lambda raw: base64.urlsafe_b64encode(raw).decode().rstrip("=")),
        st.text(alphabet="ABCxyz019-_+/=.é \n", max_size=40),
        st.text(max_size=20),
    )
)
def test_base64url_parts_decode_as_before(part: str) -> None:
    """The bytes translation decodes and refuses exactly what the ``str`` one did."""
    expected = _reference_b64(part)
    if expected is None:
        with pytest.raises(InvalidIdentityTokenException):
            id_tokens._b64(part)
    else:
        assert id_tokens._b64(part) == expected

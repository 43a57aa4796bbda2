"""OpenID Connect ID tokens (JWTs) as AssumeRoleWithWebIdentity verifies them
(https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html).

Pure given the provider's keys: ``parse`` reads a compact JWS without trusting it,
``verify_signature`` checks it against the JWKs the issuer publishes, ``check_times``
and ``audience`` check the claims. Every refusal is one of STS's errors
(``InvalidIdentityToken``, ``ExpiredTokenException``).

Only asymmetric signatures are accepted: RS256/384/512, PS256/384/512 and
ES256/384/512. ``alg: none`` and the HMAC algorithms are refused before any key is
looked at (an HS256 token "signed" with the provider's public key as its secret never
reaches a verifier), and a key is used only for the algorithm family (and curve) it is
for, whatever the token's header claims.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jwt.algorithms import Algorithm, ECAlgorithm, RSAAlgorithm, RSAPSSAlgorithm

from tessera.auth.rsa_verify import NativeRsaKey
from tessera.cache import LRU
from tessera.errors import ExpiredTokenException, InvalidIdentityTokenException

__all__ = [
    "ALGORITHMS",
    "CLOCK_SKEW",
    "MAX_TOKEN_CHARS",
    "NOT_A_JWT",
    "UNKNOWN_KEY",
    "IdToken",
    "audience",
    "check_times",
    "parse",
    "verify_signature",
]

MAX_TOKEN_CHARS = 20000
"""AWS's limit on ``WebIdentityToken`` (botocore's ``clientTokenType``)."""

CLOCK_SKEW = dt.timedelta(minutes=5)
"""Tolerance for ``exp``, ``nbf`` and ``iat`` against the server's clock. AWS does not
document one; five minutes is the usual allowance between an IdP's clock and ours."""

NOT_A_JWT = "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)"
UNKNOWN_KEY = (
    "Couldn't retrieve verification key from your identity provider,  "
    "please reference AssumeRoleWithWebIdentity documentation for requirements"
)
BAD_SIGNATURE = "The ID Token's signature does not verify with the identity provider's keys."
AUDIENCE = "Incorrect token audience"

ALGORITHMS: dict[str, tuple[str, str | None]] = {
    # alg: (JWK kty, EC curve)
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "PS256": ("RSA", None),
    "PS384": ("RSA", None),
    "PS512": ("RSA", None),
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
}
_CURVE_NAMES = {"P-256": "secp256r1", "P-384": "secp384r1", "P-521": "secp521r1"}
_MAX_CANDIDATE_KEYS = 16  # a token without ``kid`` is tried against at most this many keys


def _verifier(alg: str) -> Algorithm:
    bits = alg[2:]
    family = alg[:2]
    hash_alg = {"256": RSAAlgorithm.SHA256, "384": RSAAlgorithm.SHA384, "512": RSAAlgorithm.SHA512}[bits]
    if family == "RS":
        return RSAAlgorithm(hash_alg)
    if family == "PS":
        return RSAPSSAlgorithm(hash_alg)
    return ECAlgorithm(hash_alg)


_VERIFIERS = {alg: _verifier(alg) for alg in ALGORITHMS}


@dataclass(frozen=True, slots=True)
class IdToken:
    """A compact JWS split and decoded, not yet trusted."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    signing_input: bytes
    signature: bytes

    @property
    def alg(self) -> str:
        return str(self.header["alg"])

    @property
    def kid(self) -> str | None:
        kid = self.header.get("kid")
        return kid if isinstance(kid, str) else None

    @property
    def issuer(self) -> str:
        return str(self.claims["iss"])

    @property
    def subject(self) -> str:
        return str(self.claims["sub"])


def parse(text: str) -> IdToken:
    """Split and decode ``text``; refuse what is not a signed JWT with the claims STS needs."""
    if len(text) > MAX_TOKEN_CHARS:
        raise InvalidIdentityTokenException(NOT_A_JWT)
    parts = text.split(".")
    if len(parts) != 3 or not all(parts):
        raise InvalidIdentityTokenException(NOT_A_JWT)
    header = _json_part(parts[0])
    claims = _json_part(parts[1])
    signature = _b64(parts[2])
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALGORITHMS:
        shown = alg if isinstance(alg, str) else ""
        raise InvalidIdentityTokenException(
            f"Unsupported signing algorithm '{shown[:32]}': ID tokens must be signed with one of {', '.join(ALGORITHMS)}."
        )
    if "kid" in header and not isinstance(header["kid"], str):
        raise InvalidIdentityTokenException(NOT_A_JWT)
    if "crit" in header:  # no extension is understood, so none may be critical (RFC 7515 §4.1.11)
        raise InvalidIdentityTokenException(NOT_A_JWT)
    for name in ("iss", "sub"):
        if not isinstance(claims.get(name), str) or not claims[name]:
            raise InvalidIdentityTokenException(f"The ID Token is missing the required '{name}' claim.")
    if not _numeric(claims.get("exp")):
        raise InvalidIdentityTokenException("The ID Token is missing the required 'exp' claim.")
    for name in ("nbf", "iat"):
        if name in claims and not _numeric(claims[name]):
            raise InvalidIdentityTokenException(f"The ID Token's '{name}' claim is not a number.")
    aud = claims.get("aud")
    if not (isinstance(aud, str) and aud) and not (isinstance(aud, list) and aud and all(isinstance(a, str) for a in aud)):
        raise InvalidIdentityTokenException(AUDIENCE)
    return IdToken(header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def verify_signature(token: IdToken, jwks: Iterable[Mapping[str, Any]]) -> None:
    """Verify the signature with the JWK the token names (``kid``), or, without a
    ``kid``, with any suitable key. A key is suitable only for its own family and curve."""
    candidates = suitable_keys(token, jwks)
    if not candidates:
        raise InvalidIdentityTokenException(UNKNOWN_KEY)
    verifier = _VERIFIERS[token.alg]
    for jwk in candidates[:_MAX_CANDIDATE_KEYS]:
        key = _public_key(verifier, jwk, ALGORITHMS[token.alg][1])
        if key is not None and _verifies(verifier, token, key):
            return
    raise InvalidIdentityTokenException(BAD_SIGNATURE)


def suitable_keys(token: IdToken, jwks: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The published keys that may verify ``token``: its ``kid`` (when it has one), the
    algorithm's key type and curve, a signing use, and no other algorithm pinned."""
    kty, crv = ALGORITHMS[token.alg]
    kid = token.kid
    found = []
    for jwk in jwks:
        if kid is not None and jwk.get("kid") != kid:
            continue
        if jwk.get("kty") != kty or (crv is not None and jwk.get("crv") != crv):
            continue
        if jwk.get("use", "sig") != "sig" or jwk.get("alg", token.alg) != token.alg:
            continue
        found.append(jwk)
    return found


def known_kid(kid: str | None, jwks: Sequence[Mapping[str, Any]]) -> bool:
    """Whether ``jwks`` holds the key ``kid`` (any key, when the token names none)."""
    return bool(jwks) if kid is None else any(jwk.get("kid") == kid for jwk in jwks)


def check_times(claims: Mapping[str, Any], now: dt.datetime, skew: dt.timedelta = CLOCK_SKEW) -> None:
    """``exp`` (ExpiredTokenException), ``nbf`` and ``iat`` against ``now``, each with ``skew``."""
    at = now.timestamp()
    tolerance = skew.total_seconds()
    exp = float(claims["exp"])
    if at >= exp + tolerance:
        raise ExpiredTokenException(f"Token expired: current date/time {int(at)} must be before the expiration date/time {int(exp)}")
    nbf = claims.get("nbf")
    if nbf is not None and at + tolerance < float(nbf):
        raise InvalidIdentityTokenException(
            f"Token is not yet valid: current date/time {int(at)} is before its not-before date/time {int(float(nbf))}"
        )
    iat = claims.get("iat")
    if iat is not None and at + tolerance < float(iat):
        raise InvalidIdentityTokenException(
            f"Token was issued in the future: current date/time {int(at)} is before its issue date/time {int(float(iat))}"
        )


def audience(claims: Mapping[str, Any], client_ids: Iterable[str]) -> str:
    """The client id the token was issued to, which must be one of ``client_ids``: its
    ``azp`` when present (the authorized party of a token with several audiences),
    otherwise its ``aud`` (one of them, when a list)."""
    allowed = set(client_ids)
    azp = claims.get("azp")
    if isinstance(azp, str) and azp:
        if azp in allowed:
            return azp
        raise InvalidIdentityTokenException(AUDIENCE)
    aud = claims["aud"]
    for value in [aud] if isinstance(aud, str) else aud:
        if value in allowed:
            return str(value)
    raise InvalidIdentityTokenException(AUDIENCE)


@dataclass(frozen=True, slots=True)
class _Key:
    """A public key loaded from a JWK, and the same key as OpenSSL holds it for an RSA
    verification that keeps the GIL (``tessera.auth.rsa_verify``), when it has one."""

    public: Any
    native: NativeRsaKey | None = None


_KEYS: LRU[tuple[object, ...], _Key] = LRU(256)
"""Public keys loaded from JWKs, by the members that make them: an issuer's JWKS is
read once per request, its keys are loaded once (loading an RSA key costs about as much
as verifying with it)."""
_KEY_MEMBERS = ("kty", "crv", "n", "e", "x", "y")


def _public_key(verifier: Algorithm, jwk: Mapping[str, Any], curve: str | None) -> _Key | None:
    """The public key of ``jwk`` for ``verifier``, or None when it is not one; loaded
    once per key (a JWK with private members, or members that are not text, each time)."""
    members = tuple(jwk.get(name) for name in _KEY_MEMBERS)
    if "d" in jwk or not all(value is None or isinstance(value, str) for value in members):
        public = _load_public_key(verifier, jwk, curve)
        return _Key(public) if public is not None else None
    cache_key = (type(verifier), curve, *members)
    key = _KEYS.get(cache_key)
    if key is None:
        public = _load_public_key(verifier, jwk, curve)
        if public is None:
            return None
        key = _Key(public, NativeRsaKey.load(public))
        _KEYS.put(cache_key, key)
    return key


def _load_public_key(verifier: Algorithm, jwk: Mapping[str, Any], curve: str | None) -> Any:
    try:
        key = verifier.from_jwk(dict(jwk))
    except Exception:  # whatever an issuer publishes, a key that does not load is no key
        return None
    public = key.public_key() if hasattr(key, "private_numbers") else key
    if curve is not None and getattr(getattr(public, "curve", None), "name", None) != _CURVE_NAMES[curve]:
        return None
    return public


_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")  # bytes: ``str.translate`` with a dict costs ~20 µs a signature
_MAX_DATE = 1 << 40  # seconds: some 35 000 years


def _verifies(verifier: Algorithm, token: IdToken, key: _Key) -> bool:
    """Whether ``key`` verifies the token's signature: an RSA key first through OpenSSL
    without letting go of the GIL (``tessera.auth.rsa_verify``), every other key, and
    every signature that path does not accept, through ``cryptography``. A refusal is
    thus always ``cryptography``'s: the libcrypto the native path calls may be another
    build, configured by the system (providers, properties), and must not refuse what
    ``cryptography`` accepts; a valid token, the common case, is verified once."""
    if key.native is not None:
        try:
            if key.native.verify(token.alg, token.signing_input, token.signature):
                return True
        except Exception:  # e.g. OpenSSL could not set up the verification: cryptography decides
            pass
    try:
        return bool(verifier.verify(token.signing_input, key.public, token.signature))
    except Exception:  # e.g. a key too small for the padding: it does not verify this token
        return False


def _numeric(value: object) -> bool:
    """A NumericDate (RFC 7519 §2) within any plausible range (so never inf, NaN or a
    thousand-digit integer)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and -_MAX_DATE < value < _MAX_DATE


def _b64(part: str) -> bytes:
    """Strict base64url without padding (RFC 7515 §2): any other character is refused."""
    if _B64URL.fullmatch(part) is None:
        raise InvalidIdentityTokenException(NOT_A_JWT)
    try:
        # ASCII once the pattern matched
        return base64.b64decode(part.encode("ascii").translate(_TO_STANDARD) + b"=" * (-len(part) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidIdentityTokenException(NOT_A_JWT) from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_JSON = json.JSONDecoder(parse_constant=_no_constant)  # one decoder: ``json.loads`` with options makes one a call


def _json_part(part: str) -> dict[str, Any]:
    raw = _b64(part)
    try:
        value = _JSON.decode(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nesting too deep
        raise InvalidIdentityTokenException(NOT_A_JWT) from None
    if not isinstance(value, dict):
        raise InvalidIdentityTokenException(NOT_A_JWT)
    return value

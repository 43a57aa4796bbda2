"""RSA verification through libcrypto with the GIL held (tessera.auth.rsa_verify): the same
answer as ``cryptography`` for every signature, tampered or not, and no other thread runs
while it verifies."""

from __future__ import annotations

import sys
import threading
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.auth import id_tokens, rsa_verify
from tessera.auth.rsa_verify import NativeRsaKey

pytestmark = pytest.mark.skipif(not rsa_verify.available(), reason="libcrypto cannot be called directly here")

KEYS = {bits: rsa.generate_private_key(public_exponent=65537, key_size=bits) for bits in (2048, 3072)}
OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)
HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
ALGORITHMS = [f"{family}{bits}" for family in ("RS", "PS") for bits in HASHES]


def _padding(alg: str) -> padding.AsymmetricPadding:
    hash_alg = HASHES[alg[2:]]()
    if alg.startswith("PS"):
        return padding.PSS(mgf=padding.MGF1(hash_alg), salt_length=hash_alg.digest_size)
    return padding.PKCS1v15()


def _sign(key: rsa.RSAPrivateKey, alg: str, message: bytes) -> bytes:
    return key.sign(message, _padding(alg), HASHES[alg[2:]]())


def _cryptography_verifies(key: rsa.RSAPublicKey, alg: str, message: bytes, signature: bytes) -> bool:
    try:
        key.verify(signature, message, _padding(alg), HASHES[alg[2:]]())
    except Exception:
        return False
    return True


@settings(max_examples=60, deadline=None)
@given(
    bits=st.sampled_from(sorted(KEYS)),
    signed_alg=st.sampled_from(ALGORITHMS),
    checked_alg=st.sampled_from(ALGORITHMS),
    message=st.binary(max_size=3000),
    tamper=st.sampled_from(["none", "message", "signature", "truncate", "extend", "other key", "empty"]),
    position=st.integers(min_value=0, max_value=10_000),
)
def test_the_answer_is_cryptographys(bits: int, signed_alg: str, checked_alg: str, message: bytes, tamper: str, position: int) -> None:
    """Whatever is signed with which algorithm and checked as which, tampered or not, the
    native verification answers what ``cryptography`` answers."""
    key = KEYS[bits]
    signature = _sign(OTHER if tamper == "other key" else key, signed_alg, message)
    if tamper == "message":
        message = (
            message + b"!"
            if not message
            else message[: position % len(message)] + bytes([message[position % len(message)] ^ 1]) + message[position % len(message) + 1 :]
        )
    elif tamper == "signature":
        at = position % len(signature)
        signature = signature[:at] + bytes([signature[at] ^ 0x80]) + signature[at + 1 :]
    elif tamper == "truncate":
        signature = signature[: position % len(signature)]
    elif tamper == "extend":
        signature = signature + b"\0"
    elif tamper == "empty":
        signature = b""
    native = NativeRsaKey.load(key.public_key())
    assert native is not None
    expected = _cryptography_verifies(key.public_key(), checked_alg, message, signature)
    assert native.verify(checked_alg, message, signature) is expected
    if tamper == "none" and signed_alg == checked_alg:
        assert expected  # the property is not vacuous


def test_only_rsa_keys_are_loaded() -> None:
    assert NativeRsaKey.load(ec.generate_private_key(ec.SECP256R1()).public_key()) is None
    assert NativeRsaKey.load(KEYS[2048]) is None  # a private key is not a public one
    assert NativeRsaKey.load(object()) is None


def test_no_other_thread_runs_while_it_verifies() -> None:
    """The point of it: with the switch interval out of the way, a thread waiting for the
    GIL does not get it during a run of verifications (``cryptography``'s lets it in)."""
    key = KEYS[2048]
    signature = _sign(key, "RS256", b"payload")
    native = NativeRsaKey.load(key.public_key())
    assert native is not None
    go = threading.Event()
    ran: list[bool] = []
    thread = threading.Thread(target=lambda: (go.wait(), ran.append(True)))
    thread.start()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(30.0)
    try:
        go.set()
        outcomes = [native.verify("RS256", b"payload", signature) for _ in range(200)]
        ran_meanwhile = bool(ran)
    finally:
        sys.setswitchinterval(interval)
    thread.join()
    assert all(outcomes) and not ran_meanwhile


def test_an_id_token_is_verified_natively_with_an_rsa_key_and_through_cryptography_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    """``id_tokens`` keeps the native key beside the loaded one (RSA only), and answers the
    same when it has none (libcrypto unusable)."""
    import jwt
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm

    ec_key = ec.generate_private_key(ec.SECP256R1())
    jwks: list[dict[str, Any]] = [
        {**RSAAlgorithm.to_jwk(KEYS[2048].public_key(), as_dict=True), "kid": "native-rsa"},
        {**ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True), "kid": "native-ec"},
    ]
    claims = {"iss": "https://idp.example.com", "sub": "s", "aud": "a", "exp": 2_000_000_000}
    rs = id_tokens.parse(jwt.encode(claims, KEYS[2048], algorithm="RS256", headers={"kid": "native-rsa"}))
    es = id_tokens.parse(jwt.encode(claims, ec_key, algorithm="ES256", headers={"kid": "native-ec"}))
    forged = id_tokens.parse(jwt.encode(claims, OTHER, algorithm="RS256", headers={"kid": "native-rsa"}))
    used: list[str] = []
    verify = NativeRsaKey.verify

    def counting(self: NativeRsaKey, alg: str, signing_input: bytes, signature: bytes) -> bool:
        used.append(alg)
        return verify(self, alg, signing_input, signature)

    monkeypatch.setattr(NativeRsaKey, "verify", counting)
    id_tokens.verify_signature(rs, jwks)
    id_tokens.verify_signature(es, jwks)
    with pytest.raises(Exception, match="signature does not verify"):
        id_tokens.verify_signature(forged, jwks)
    assert used == ["RS256", "RS256"]

    id_tokens._KEYS.clear()
    monkeypatch.setattr(NativeRsaKey, "load", classmethod(lambda cls, key: None))
    used.clear()
    id_tokens.verify_signature(rs, jwks)
    with pytest.raises(Exception, match="signature does not verify"):
        id_tokens.verify_signature(forged, jwks)
    assert used == []
    id_tokens._KEYS.clear()


@pytest.mark.parametrize("failure", ["refuses", "raises"])
def test_what_the_native_path_does_not_accept_is_decided_by_cryptography(monkeypatch: pytest.MonkeyPatch, failure: str) -> None:
    """A system libcrypto that cannot set up a verification (a provider or property
    configured away, memory) never refuses a token ``cryptography`` accepts, nor accepts
    a forged one."""
    import jwt
    from jwt.algorithms import RSAAlgorithm

    jwks = [{**RSAAlgorithm.to_jwk(KEYS[2048].public_key(), as_dict=True), "kid": "setup-fails"}]
    claims = {"iss": "https://idp.example.com", "sub": "s", "aud": "a", "exp": 2_000_000_000}
    valid = id_tokens.parse(jwt.encode(claims, KEYS[2048], algorithm="PS256", headers={"kid": "setup-fails"}))
    forged = id_tokens.parse(jwt.encode(claims, OTHER, algorithm="PS256", headers={"kid": "setup-fails"}))

    def broken(self: NativeRsaKey, alg: str, signing_input: bytes, signature: bytes) -> bool:
        if failure == "raises":
            raise MemoryError("EVP_MD_CTX_new failed")
        return False

    monkeypatch.setattr(NativeRsaKey, "verify", broken)
    id_tokens._KEYS.clear()
    try:
        id_tokens.verify_signature(valid, jwks)
        with pytest.raises(Exception, match="signature does not verify"):
            id_tokens.verify_signature(forged, jwks)
    finally:
        id_tokens._KEYS.clear()


def test_an_algorithm_of_another_family_is_refused() -> None:
    native = NativeRsaKey.load(KEYS[2048].public_key())
    assert native is not None
    with pytest.raises(ValueError, match="not an RSA algorithm"):
        native.verify("ES256", b"payload", _sign(KEYS[2048], "RS256", b"payload"))

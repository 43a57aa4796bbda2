"""Sealed session tokens and the access-key generators."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import re

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.auth.caller import SessionClaims, SessionTag
from tessera.auth.tokens import (
    MAX_TOKEN_LENGTH,
    Keyring,
    TokenKey,
    account_from_access_key_id,
    check_expiry,
    new_access_key_id,
    new_secret_access_key,
    new_token_key,
    seal,
    unseal,
)
from tessera.errors import ExpiredToken, InvalidClientTokenId

NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
ASIA = "ASIAQYLPMN5HFIQR7XYZ"

ROLE_SESSION = SessionClaims(
    kind="assumed-role",
    access_key_id=ASIA,
    secret_access_key="je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
    account="123456789012",
    issued_at=NOW,
    expires_at=NOW + dt.timedelta(hours=1),
    session_name="ci",
    role_arn="arn:aws:iam::123456789012:role/deploy",
    role_id="AROAQYLPMN5HEXAMPLE2",
    role_name="deploy",
)

# One distinct, non-default value per annotation: a new SessionClaims field with a type not
# listed here fails test_every_claim_field_round_trips until the token codec covers it.
SAMPLES = {
    "SessionKind": "federation-token",
    "str": "välue/with:odd=chars",
    "dt.datetime": NOW + dt.timedelta(seconds=1, microseconds=123456),
    "dt.datetime | None": NOW - dt.timedelta(minutes=5),
    "tuple[str, ...]": ("one", '{"Version":"2012-10-17"}'),
    "tuple[SessionTag, ...]": (SessionTag("team", "blue"), SessionTag("cost center", "42 é")),
    "bool": True,
}


@pytest.fixture
def keyring() -> Keyring:
    return Keyring((new_token_key("k1", NOW),), "k1")


def test_round_trip_returns_the_same_claims(keyring):
    token = seal(ROLE_SESSION, keyring.current)
    assert unseal(token, keyring, ASIA) == ROLE_SESSION


def test_every_claim_field_round_trips(keyring):
    values = {}
    for field in dataclasses.fields(SessionClaims):
        assert field.type in SAMPLES, f"SessionClaims.{field.name}: teach the token codec about '{field.type}'"
        values[field.name] = SAMPLES[field.type]
    values["access_key_id"] = ASIA
    claims = SessionClaims(**values)
    assert unseal(seal(claims, keyring.current), keyring, ASIA) == claims


def test_fields_added_later_are_left_out_at_their_default(keyring):
    """A token written without the provider of a web identity session holds the first version
    2 fields only, so nodes that predate the field still read it; with one it round-trips."""
    from tessera.auth import tokens

    assert len(orjson.loads(tokens._encode_claims(ROLE_SESSION)[1:])) == tokens._ALWAYS_WRITTEN
    federated = dataclasses.replace(ROLE_SESSION, federated_provider="arn:aws:iam::123456789012:oidc-provider/idp.example.com")
    assert unseal(seal(federated, keyring.current), keyring, ASIA) == federated


def test_token_is_url_safe_and_reasonably_short(keyring):
    token = seal(ROLE_SESSION, keyring.current)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert len(token) < 400


def test_sealing_twice_gives_different_tokens(keyring):
    assert seal(ROLE_SESSION, keyring.current) != seal(ROLE_SESSION, keyring.current)


# Sealed by the retired version-1 codec (an object of short field names, zlib-compressed)
# under TokenKey("k1", b"\x07" * 32): no longer minted, and no longer opened.
VERSION_1_TOKEN = (
    "AQJrMVMj4vgy9G9LGH4bDOaA7xd333SS-_CpvW8P-ASuC5o28mwqY0bizaBAloE2ag45qRAkOJ7ZTlURYVCDhpW4ARzHIBeZhJA1v4UqEG3q2"
    "JJ7152BgX8htl6MlMOMqzam5bpZv-1DzWF3ZWRP1Y3GAmwRdyb3c0L7VwhnVOTNsN-DQmt4-1vyxTU2jZ5AwZ-hGtY1SkrQqrqYOaPH8WnDti"
    "4e4aKl61EjWVlE9vzXq2oTCqpVaXyk5t9Vms7Mu1bssTYlPvSNUnCQrgONYOfOMIK1E0MCyTRndA11JESvYw"
)


def test_version_1_token_is_refused():
    keyring = Keyring((TokenKey("k1", b"\x07" * 32, NOW),), "k1")
    with pytest.raises(InvalidClientTokenId):
        unseal(VERSION_1_TOKEN, keyring, ASIA)


def test_new_tokens_use_version_2(keyring):
    assert raw(seal(ROLE_SESSION, keyring.current))[0] == 2


def test_large_session_policy_is_compressed(keyring):
    policy = (
        '{"Version":"2012-10-17","Statement":['
        + ",".join(f'{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bucket-{i}/*"}}' for i in range(40))
        + "]}"
    )
    claims = dataclasses.replace(ROLE_SESSION, session_policies=(policy,))
    token = seal(claims, keyring.current)
    assert len(token) < len(policy) / 2
    assert unseal(token, keyring, ASIA) == claims


# --- Everything that is not a valid token ---------------------------------------------


def raw(token: str) -> bytearray:
    return bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


def encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(bytes(data)).rstrip(b"=").decode()


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_tampered_byte_is_rejected(data):
    keyring = Keyring((TokenKey("k1", b"\x01" * 32, NOW),), "k1")
    token = raw(seal(ROLE_SESSION, keyring.current))
    index = data.draw(st.integers(0, len(token) - 1), label="index")
    token[index] ^= data.draw(st.integers(1, 255), label="xor")
    with pytest.raises(InvalidClientTokenId):
        unseal(encode(token), keyring, ASIA)


def test_every_truncation_is_rejected(keyring):
    token = raw(seal(ROLE_SESSION, keyring.current))
    for length in range(len(token)):
        with pytest.raises(InvalidClientTokenId):
            unseal(encode(token[:length]), keyring, ASIA)


def test_appended_bytes_are_rejected(keyring):
    token = raw(seal(ROLE_SESSION, keyring.current))
    with pytest.raises(InvalidClientTokenId):
        unseal(encode(token + b"\x00"), keyring, ASIA)


def test_token_presented_with_another_access_key_id_is_rejected(keyring):
    token = seal(ROLE_SESSION, keyring.current)
    with pytest.raises(InvalidClientTokenId):
        unseal(token, keyring, "ASIAQYLPMN5HFIQR7XYA")


def test_token_sealed_with_an_unknown_key_is_rejected(keyring):
    other = new_token_key("k1", NOW)  # same id, different secret
    with pytest.raises(InvalidClientTokenId):
        unseal(seal(ROLE_SESSION, other), keyring, ASIA)
    with pytest.raises(InvalidClientTokenId):
        unseal(seal(ROLE_SESSION, new_token_key("k9", NOW)), keyring, ASIA)


FOREIGN = {
    "empty": "",
    "aws-style": "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD6example==",
    "plain-text": "not a token",
    "non-ascii": "tökén",
    "standard-base64-alphabet": "AQJrMQ+/" * 10,
    "too-long": "A" * (MAX_TOKEN_LENGTH + 1),
    "wrong-version": encode(b"\x09\x02k1" + b"\x00" * 40),
}


@pytest.mark.parametrize("token", FOREIGN.values(), ids=FOREIGN.keys())
def test_foreign_tokens_are_rejected(token, keyring):
    with pytest.raises(InvalidClientTokenId) as raised:
        unseal(token, keyring, ASIA)
    assert raised.value.message == "The security token included in the request is invalid."


def test_non_canonical_encodings_of_a_valid_token_are_rejected(keyring):
    token = seal(ROLE_SESSION, keyring.current)
    padded = token + "=" * (-len(token) % 4)
    variants = [token + "\n", " " + token, token.replace("-", "+").replace("_", "/")]
    if padded != token:
        variants.append(padded)
    for variant in variants:
        if variant != token:
            with pytest.raises(InvalidClientTokenId):
                unseal(variant, keyring, ASIA)


# --- Rotation -------------------------------------------------------------------------


def test_rotated_keyring_seals_with_the_new_key_and_still_opens_old_tokens(keyring):
    old_token = seal(ROLE_SESSION, keyring.current)
    rotated = keyring.rotated(new_token_key("k2", NOW + dt.timedelta(days=30)))
    assert rotated.current.key_id == "k2"
    new_token = seal(ROLE_SESSION, rotated.current)

    assert unseal(old_token, rotated, ASIA) == ROLE_SESSION
    assert unseal(new_token, rotated, ASIA) == ROLE_SESSION
    with pytest.raises(InvalidClientTokenId):
        unseal(new_token, keyring, ASIA)


def test_retired_key_no_longer_opens_its_tokens(keyring):
    old_token = seal(ROLE_SESSION, keyring.current)
    retired = keyring.rotated(new_token_key("k2", NOW)).without("k1")
    with pytest.raises(InvalidClientTokenId):
        unseal(old_token, retired, ASIA)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda k: Keyring((k, k), "k1"), "token key ids must be unique"),
        (lambda k: Keyring((k,), "k2"), "current token key 'k2' is not in the keyring"),
        (lambda k: Keyring((k,), "k1").without("k1"), "cannot retire the current token key 'k1'"),
        (lambda k: TokenKey("k 1", k.secret, NOW), "token key id 'k 1' must be 1-64 characters of A-Z a-z 0-9 . _ -"),
        (lambda k: TokenKey("k1", b"short", NOW), "token key 'k1' must be 32 bytes"),
    ],
    ids=["duplicate-ids", "unknown-current", "retire-current", "bad-key-id", "short-secret"],
)
def test_invalid_keyrings_are_refused(build, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        build(new_token_key("k1", NOW))


def test_token_key_secret_is_not_in_its_repr():
    key = new_token_key("k1", NOW)
    assert key.secret.hex() not in repr(key) and repr(key.secret) not in repr(key)


# --- Expiry ---------------------------------------------------------------------------


@pytest.mark.parametrize(("offset", "expired"), [(-1, False), (0, True), (1, True)], ids=["before", "at", "after"])
def test_expiry_is_decided_against_the_given_clock(offset, expired):
    now = ROLE_SESSION.expires_at + dt.timedelta(seconds=offset)
    if expired:
        with pytest.raises(ExpiredToken) as raised:
            check_expiry(ROLE_SESSION, now)
        assert raised.value.message == "The security token included in the request is expired"
    else:
        check_expiry(ROLE_SESSION, now)


def test_unseal_opens_expired_tokens_so_the_caller_decides(keyring):
    token = seal(dataclasses.replace(ROLE_SESSION, expires_at=NOW - dt.timedelta(days=1)), keyring.current)
    assert unseal(token, keyring, ASIA).expires_at == NOW - dt.timedelta(days=1)


# --- Access key ids and secrets -------------------------------------------------------


@pytest.mark.parametrize("prefix", ["AKIA", "ASIA"])
def test_access_key_ids_have_aws_shape_and_are_distinct(prefix):
    ids = {new_access_key_id(prefix) for _ in range(500)}
    assert len(ids) == 500
    assert all(re.fullmatch(prefix + r"[A-Z2-7]{16}", key_id) for key_id in ids)


@settings(max_examples=100, deadline=None)
@given(account=st.integers(0, 10**12 - 1).map(lambda n: f"{n:012d}"), prefix=st.sampled_from(["AKIA", "ASIA"]))
def test_account_is_recoverable_from_an_encoded_access_key_id(account, prefix):
    key_id = new_access_key_id(prefix, account=account)
    assert re.fullmatch(prefix + r"[Q-Z2-7][A-Z2-7]{15}", key_id)
    assert account_from_access_key_id(key_id) == account


def test_account_decoding_matches_aws_published_layout():
    # The worked example of the public analyses of AWS key ids (awsteele.com, 2020-09-26;
    # WithSecure Labs, "A bitwise analysis of AWS access key identifiers").
    assert account_from_access_key_id("ASIAY34FZKBOKMUTVV7A") == "609629065308"


@pytest.mark.parametrize(
    ("prefix", "account", "message"),
    [
        ("AIDA", None, "access key id prefix must be AKIA or ASIA, not 'AIDA'"),
        ("AKIA", "12345", "account id '12345' must be 12 digits"),
    ],
    ids=["bad-prefix", "short-account"],
)
def test_bad_access_key_id_requests_are_refused(prefix, account, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        new_access_key_id(prefix, account=account)


def test_secret_access_keys_are_forty_characters_of_aws_alphabet():
    secrets_ = {new_secret_access_key() for _ in range(200)}
    assert len(secrets_) == 200
    assert all(re.fullmatch(r"[A-Za-z0-9/+]{40}", secret) for secret in secrets_)

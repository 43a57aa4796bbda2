"""Sealed, self-contained STS session tokens, and the access-key id and secret generators.

A session token carries everything a node needs to authenticate and authorize the
session (``SessionClaims``), encrypted and authenticated with AES-256-GCM, so no database
read is needed per request::

    token = seal(claims, keyring.current)                  # AssumeRole & co.
    claims = unseal(token, keyring, access_key_id)         # every ASIA request
    check_expiry(claims, clock.now())                      # ExpiredToken

Layout (URL-safe base64, no padding)::

    version (1) | key-id length (1) | key id (ASCII) | nonce (12) | AES-GCM(payload) + tag (16)

The header (version and key id, in clear so the right key is picked without trying each)
is associated data, together with the session's ASIA access key id: a token presented
with any other key id fails authentication, so the id is bound without being stored.
The payload is one flag byte (0 raw, 1 zlib) then compact JSON: a positional array of
the claims (version 2; version 1 tokens are no longer minted nor opened). Only payloads
of ``_COMPRESS_FROM`` bytes or more are compressed (session policies and tags): on a
plain role session compressing costs more CPU than the hundred characters it saves.
Compression is safe here because everything in a token is known to
the caller it is issued to (their own new secret included).

Every failure to open a token (not base64, truncated, tampered, unknown key, another
issuer's token, wrong access key id) is ``InvalidClientTokenId``. Expiry is deliberately
not decided by ``unseal``: the caller compares with its injected clock (``check_expiry``).

Rotation: ``keyring.rotated(new_token_key("k2", now))`` makes the new key current for
sealing while tokens sealed under older keys still open until those keys are dropped
(``keyring.without("k1")``). With random 96-bit nonces, rotate well before 2**32 tokens
per key.

Key ids: ``new_access_key_id("AKIA" | "ASIA", account=…)`` follows AWS's layout, where
the 12-digit account is recoverable from the id (``account_from_access_key_id``), as
``sts:GetAccessKeyInfo`` needs; without ``account`` the 16 characters are fully random.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import operator
import re
import secrets
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tessera.auth.caller import SessionClaims, SessionTag
from tessera.auth.randomness import random_bytes
from tessera.errors import ExpiredToken, InvalidClientTokenId

__all__ = [
    "MAX_TOKEN_LENGTH",
    "TOKEN_VERSION",
    "Keyring",
    "TokenKey",
    "account_from_access_key_id",
    "check_expiry",
    "new_access_key_id",
    "new_secret_access_key",
    "new_token_key",
    "seal",
    "unseal",
]

TOKEN_VERSION = 2
MAX_TOKEN_LENGTH = 16384  # characters; bounds the work done on hostile input
_NONCE_BYTES = 12
_TAG_BYTES = 16
_KEY_BYTES = 32
_BINDING = b"\x00tessera-session-token\x00"  # domain separation inside the associated data
_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_UTC = dt.UTC


# --- Keys -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenKey:
    key_id: str
    secret: bytes = field(repr=False)
    created_at: dt.datetime

    def __post_init__(self) -> None:
        if not _KEY_ID.fullmatch(self.key_id):
            raise ValueError(f"token key id '{self.key_id}' must be 1-64 characters of A-Z a-z 0-9 . _ -")
        if len(self.secret) != _KEY_BYTES:
            raise ValueError(f"token key '{self.key_id}' must be {_KEY_BYTES} bytes")


def new_token_key(key_id: str, now: dt.datetime) -> TokenKey:
    """A fresh random AES-256 key."""
    return TokenKey(key_id, secrets.token_bytes(_KEY_BYTES), now)


@dataclass(frozen=True, slots=True)
class Keyring:
    """Every key that may open a token; ``current_key_id`` names the one that seals."""

    keys: tuple[TokenKey, ...]
    current_key_id: str
    _ciphers: dict[str, tuple[TokenKey, AESGCM]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = tuple(self.keys)
        ciphers = {key.key_id: (key, AESGCM(key.secret)) for key in keys}
        if len(ciphers) != len(keys):
            raise ValueError("token key ids must be unique")
        if self.current_key_id not in ciphers:
            raise ValueError(f"current token key '{self.current_key_id}' is not in the keyring")
        object.__setattr__(self, "keys", keys)
        object.__setattr__(self, "_ciphers", ciphers)

    @property
    def current(self) -> TokenKey:
        return self._ciphers[self.current_key_id][0]

    def get(self, key_id: str) -> TokenKey | None:
        entry = self._ciphers.get(key_id)
        return entry[0] if entry else None

    def rotated(self, key: TokenKey) -> Keyring:
        """Add ``key`` and seal with it from now on; older keys keep opening their tokens."""
        return Keyring((*self.keys, key), key.key_id)

    def without(self, key_id: str) -> Keyring:
        """Retire a key: tokens sealed with it stop opening. The current key cannot be retired."""
        if key_id == self.current_key_id:
            raise ValueError(f"cannot retire the current token key '{key_id}'")
        return Keyring(tuple(key for key in self.keys if key.key_id != key_id), self.current_key_id)

    def _cipher(self, key_id: str) -> AESGCM | None:
        entry = self._ciphers.get(key_id)
        return entry[1] if entry else None


# --- Seal and unseal ------------------------------------------------------------------


def seal(claims: SessionClaims, key: TokenKey) -> str:
    header = _header(key.key_id)
    nonce = random_bytes(_NONCE_BYTES)
    payload = _encode_claims(claims)
    sealed = _aead(key.secret).encrypt(nonce, payload, _associated_data(header, claims.access_key_id))
    return base64.urlsafe_b64encode(header + nonce + sealed).rstrip(b"=").decode("ascii")


@functools.lru_cache(maxsize=16)
def _aead(secret: bytes) -> AESGCM:
    """The cipher of a sealing key, built once (setting up the AES key schedule costs as
    much as sealing a token)."""
    return AESGCM(secret)


def unseal(token: str, keyring: Keyring, access_key_id: str) -> SessionClaims:
    """Open a token presented with ``access_key_id``; InvalidClientTokenId if it is not one
    of ours, was altered, or belongs to another key id. Does not check expiry."""
    raw = _decode_base64(token)
    header_length = 2 + raw[1] if len(raw) >= 2 else 0
    if not header_length or raw[0] != TOKEN_VERSION or len(raw) < header_length + _NONCE_BYTES + _TAG_BYTES:
        raise InvalidClientTokenId()
    header = raw[:header_length]
    cipher = keyring._cipher(header[2:].decode("ascii", "replace"))
    if cipher is None:
        raise InvalidClientTokenId()
    nonce, sealed = raw[header_length : header_length + _NONCE_BYTES], raw[header_length + _NONCE_BYTES :]
    try:
        payload = cipher.decrypt(nonce, sealed, _associated_data(header, access_key_id))
        return _decode_claims(payload, access_key_id)
    except (InvalidTag, ValueError, KeyError, TypeError, IndexError, zlib.error):
        raise InvalidClientTokenId() from None


def check_expiry(claims: SessionClaims, now: dt.datetime) -> None:
    """ExpiredToken once ``now`` reaches the session's expiration."""
    if now >= claims.expires_at:
        raise ExpiredToken()


def _header(key_id: str) -> bytes:
    encoded = key_id.encode("ascii")
    return bytes((TOKEN_VERSION, len(encoded))) + encoded


def _associated_data(header: bytes, access_key_id: str) -> bytes:
    return header + _BINDING + access_key_id.encode("utf-8", "surrogateescape")


def _decode_base64(token: str) -> bytes:
    """Strict URL-safe base64 without padding; a token must be the canonical encoding of its
    bytes, so no two strings open as the same token."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise InvalidClientTokenId()
    standard = token.translate(_FROM_URLSAFE) + "=" * (-len(token) % 4)
    try:
        raw = binascii.a2b_base64(standard, strict_mode=True)
    except (binascii.Error, ValueError):
        raise InvalidClientTokenId() from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=") != token.encode("ascii"):
        raise InvalidClientTokenId()
    return raw


_FROM_URLSAFE = str.maketrans("-_+/", "+/-_")  # '+' and '/' become invalid in strict mode


# --- Payload codec --------------------------------------------------------------------
# Version 2 writes the claims as a JSON array in the order of _FIELDS (so new fields are
# appended, never inserted: an older token's shorter array leaves them at their default).
# tests/unit/auth/test_tokens.py pins that every SessionClaims field is covered.

_Encode = Callable[[Any], Any]


def _encode_time(value: dt.datetime) -> int | list[int]:
    seconds, fraction = divmod(value - _EPOCH, _SECOND)
    return seconds if not fraction else [seconds, fraction.microseconds]


def _decode_time(value: int | list[int]) -> dt.datetime:
    seconds, micros = (value, 0) if isinstance(value, int) else value
    return _EPOCH + dt.timedelta(seconds=seconds, microseconds=micros)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=_UTC)
_SECOND = dt.timedelta(seconds=1)
_KINDS = {"assumed-role": "r", "session-token": "s", "federation-token": "f", "console": "c"}
_KIND_NAMES = {code: kind for kind, code in _KINDS.items()}


def _same(value: Any) -> Any:
    return value


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _optional_time(value: dt.datetime | None) -> int | list[int] | None:
    return None if value is None else _encode_time(value)


def _decode_optional_time(value: int | list[int] | None) -> dt.datetime | None:
    return None if value is None else _decode_time(value)


def _encode_tags(tags: Iterable[SessionTag]) -> list[list[str]]:
    return [[tag.key, tag.value] for tag in tags]


def _decode_tags(pairs: Iterable[list[str]]) -> tuple[SessionTag, ...]:
    return tuple(SessionTag(key, value) for key, value in pairs)


_FIELDS: dict[str, tuple[_Encode, _Encode]] = {
    # field: (encode, decode)
    "kind": (_KINDS.__getitem__, _KIND_NAMES.__getitem__),
    "secret_access_key": (_same, _same),
    "account": (_same, _same),
    "issued_at": (_encode_time, _decode_time),
    "expires_at": (_encode_time, _decode_time),
    "session_name": (_same, _same),
    "role_arn": (_same, _same),
    "role_id": (_same, _same),
    "role_name": (_same, _same),
    "source_arn": (_same, _same),
    "source_user_id": (_same, _same),
    "session_policies": (list, _strings),
    "session_policy_arns": (list, _strings),
    "tags": (_encode_tags, _decode_tags),
    "transitive_tag_keys": (list, _strings),
    "source_identity": (_same, _same),
    "mfa_authenticated": (_same, bool),
    "mfa_auth_time": (_optional_time, _decode_optional_time),
    "chained": (_same, bool),
    "source_ip": (_same, _same),
    "federated_provider": (_same, _same),
}
_POSITIONS = tuple(_FIELDS)
_VALUES = operator.attrgetter(*_POSITIONS)
# JSON writes str, bool, None and tuples of str as they are; only these need converting.
_POSITIONAL_ENCODERS = tuple((index, encode) for index, (encode, _) in enumerate(_FIELDS.values()) if encode not in (_same, list))
_POSITIONAL_DECODERS = tuple((index, decode) for index, (_, decode) in enumerate(_FIELDS.values()) if decode is not _same)
_ALWAYS_WRITTEN = _POSITIONS.index("source_ip") + 1  # the fields of the first version 2 tokens
_COMPRESS_FROM = 512  # payload bytes


def _encode_claims(claims: SessionClaims) -> bytes:
    values = list(_VALUES(claims))
    for index, encode in _POSITIONAL_ENCODERS:
        values[index] = encode(values[index])
    while len(values) > _ALWAYS_WRITTEN and values[-1] == "":
        values.pop()  # a later field at its default: tokens stay readable by nodes that predate it
    text = orjson.dumps(values)  # compact UTF-8 JSON, as json.dumps(separators=(",", ":"), ensure_ascii=False)
    if len(text) >= _COMPRESS_FROM:
        packed = _compress(text)
        if len(packed) < len(text):
            return b"\x01" + packed
    return b"\x00" + text


def _compress(text: bytes) -> bytes:
    """zlib with a 2 KiB window and little state: as small as the default on payloads of
    this size (a few hundred bytes to a few KiB), at a tenth of the cost, because the
    default allocates ~256 KiB of state per call."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 11, 2)
    return compressor.compress(text) + compressor.flush()


def _decode_claims(payload: bytes, access_key_id: str) -> SessionClaims:
    flag, body = payload[0], payload[1:]
    document = orjson.loads(zlib.decompress(body) if flag == 1 else body)
    return _decode_positional(document, access_key_id)


def _decode_positional(values: list[Any], access_key_id: str) -> SessionClaims:
    if not isinstance(values, list) or not 0 < len(values) <= len(_POSITIONS):
        raise ValueError("not a claims array")
    for index, decode in _POSITIONAL_DECODERS:
        if index < len(values):
            values[index] = decode(values[index])
    return SessionClaims(access_key_id=access_key_id, **dict(zip(_POSITIONS, values, strict=False)))


# --- Access key ids and secrets -------------------------------------------------------

_ACCOUNT_MASK = 0x7FFFFFFFFF80  # bits 46..7 of the first six decoded bytes hold the account
_ACCOUNT_FLAG = 1 << 47


def new_access_key_id(prefix: Literal["AKIA", "ASIA"], *, account: str | None = None) -> str:
    """``prefix`` + 16 characters of ``[A-Z2-7]`` (base32 of 10 bytes).

    With ``account`` the id uses AWS's layout: base32-decoded, the first 6 bytes hold the
    12-digit account id in bits 46..7 and random bits elsewhere (39 random bits in all),
    so ``account_from_access_key_id`` recovers it. Without it all 80 bits are random.
    Ids are not secrets; the store must still reject the (rare) duplicate."""
    if prefix not in ("AKIA", "ASIA"):
        raise ValueError(f"access key id prefix must be AKIA or ASIA, not '{prefix}'")
    raw = bytearray(random_bytes(10))
    if account is not None:
        if not (len(account) == 12 and account.isdigit()):
            raise ValueError(f"account id '{account}' must be 12 digits")
        head = _ACCOUNT_FLAG | (int(account) << 7) | (raw[5] & 0x7F)
        raw[:6] = head.to_bytes(6, "big")
    return prefix + base64.b32encode(bytes(raw)).decode("ascii")


def account_from_access_key_id(access_key_id: str) -> str:
    """The account encoded in an id made with ``new_access_key_id(…, account=…)``
    (meaningless for fully random ids)."""
    raw = base64.b32decode(access_key_id[4:20])
    return f"{(int.from_bytes(raw[:6], 'big') & _ACCOUNT_MASK) >> 7:012d}"


def new_secret_access_key() -> str:
    """40 characters of ``[A-Za-z0-9/+]``: standard base64 of 30 random bytes."""
    return base64.b64encode(random_bytes(30)).decode("ascii")

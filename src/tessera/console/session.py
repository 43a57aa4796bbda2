"""Console sessions: which credentials a browser holds, and how a page proves it.

A console sign-in opens an STS session (``SessionClaims.kind == "console"``: it acts as
the user, or root, that signed in). The browser keeps that session's access key id and
sealed token in an HttpOnly, SameSite=Strict cookie (``COOKIE``), and a role it switched
into in a second one (``ROLE_COOKIE``); the token is opaque to it (AES-GCM under the
server's token key) and carries the session's secret, so any node serves any page without
a store read, exactly as it verifies an API call made with the same credentials: expired
or tampered tokens open no page, and policies (AWS's ``AWSRevokeOlderSessions`` on
``aws:TokenIssueTime`` included) decide every call a page makes.

Signing out writes a ``console_signout`` record naming the session's key id (and the
role session's): every node's in-memory view refuses it from then on, until it would
have expired anyway.

Every change a page makes is a POST carrying ``csrf``: an HMAC of the session's key id
under the session's own secret, which only the server can open. A cross-site request has
neither the cookie (SameSite=Strict) nor the token.

Half-done sign-ins (an MFA code or a new password still owed) and the recent-roles list
are ``notes``: small JSON values sealed with a key derived from the current token key
for one purpose, with their own expiry.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tessera.auth.caller import Caller, SessionKind
from tessera.auth.randomness import random_bytes
from tessera.auth.tokens import Keyring, TokenKey
from tessera.errors import TesseraError
from tessera.services.credentials import credential_resolver
from tessera.services.keys import current_keyring
from tessera.services.runtime import Runtime

COOKIE = "tessera-console"  # the signed-in session: ``ASIA….<token>``
ROLE_COOKIE = "tessera-console-role"  # the role switched into: ``ASIA….<token>``
ROLE_DISPLAY_COOKIE = "tessera-console-role-display"  # its display name and colour (a note)
RECENT_COOKIE = "tessera-console-recent"  # the recent roles (a note)
PENDING_COOKIE = "tessera-console-pending"  # a half-done sign-in (a note)
COOKIES = (COOKIE, ROLE_COOKIE, ROLE_DISPLAY_COOKIE, RECENT_COOKIE, PENDING_COOKIE)
ROLE_DISPLAY_PURPOSE = "role-display"
RECENT_PURPOSE = "recent-roles"
PENDING_PURPOSE = "pending-signin"

USER_SESSION_SECONDS = 12 * 3600
"""An IAM user's console session: AWS signs the user out after 12 hours."""
ROOT_SESSION_SECONDS = 3600
"""The root user's: an hour, the longest session AWS gives root credentials."""
PENDING_SECONDS = 300
"""How long a half-done sign-in waits for its MFA code or new password."""


@dataclass(frozen=True)
class Identity:
    """One set of console credentials, verified: the caller they stand for."""

    caller: Caller
    access_key_id: str
    token: str
    secret: str

    @property
    def cookie(self) -> str:
        return f"{self.access_key_id}.{self.token}"

    @property
    def expires_at(self) -> dt.datetime:
        assert self.caller.session is not None  # INVARIANT: console identities are sessions
        return self.caller.session.expires_at


def read_identity(runtime: Runtime, value: str | None, kind: SessionKind = "console") -> Identity | None:
    """The identity a cookie holds, or None: absent, malformed, tampered, expired,
    signed out, of an account that no longer exists, or not a session of ``kind``.

    The kind matters: a session's key id and token (without its secret) are what a
    presigned URL or a logged request shows, so a cookie must name a session that only a
    console sign-in (``console``) or the console's own switch (``assumed-role``, bound
    further by its sealed note) can have opened."""
    if not value:
        return None
    access_key_id, sep, token = value.partition(".")
    if not sep or not access_key_id.startswith("ASIA") or not token:
        return None
    try:
        resolved = credential_resolver(runtime).resolve(access_key_id, token)
    except TesseraError:
        return None
    caller = resolved.caller
    account = runtime.view.account(caller.account)
    if caller.session is None or caller.session.kind != kind or account is None or access_key_id in account.console_signouts:
        return None
    return Identity(caller=caller, access_key_id=access_key_id, token=token, secret=resolved.secret_access_key)


def identity_from_credentials(runtime: Runtime, credentials: dict[str, Any], kind: SessionKind = "console") -> Identity | None:
    """The identity of STS ``Credentials`` just issued (a sign-in's, or AssumeRole's)."""
    return read_identity(runtime, f"{credentials['AccessKeyId']}.{credentials['SessionToken']}", kind)


# -- CSRF ---------------------------------------------------------------------------------
def csrf_token(identity: Identity) -> str:
    """The token every form of ``identity``'s pages carries."""
    mac = hmac.new(identity.secret.encode(), b"tessera-console-csrf:" + identity.access_key_id.encode(), hashlib.sha256)
    return mac.hexdigest()


def csrf_matches(identity: Identity, presented: str) -> bool:
    return hmac.compare_digest(csrf_token(identity).encode(), presented.encode("utf-8", "replace"))


# -- sealed notes ---------------------------------------------------------------------------
def _note_cipher(key: TokenKey, purpose: str) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"tessera-console-note:" + purpose.encode()).derive(key.secret)
    return AESGCM(derived)


def seal_note(runtime: Runtime, purpose: str, payload: dict[str, Any], expires_at: dt.datetime) -> str:
    """``payload`` sealed for ``purpose`` until ``expires_at``: ``KEYID~BASE64``."""
    key = current_keyring(runtime).current
    nonce = random_bytes(12)
    body = json.dumps({"p": payload, "e": int(expires_at.timestamp())}, separators=(",", ":")).encode()
    sealed = _note_cipher(key, purpose).encrypt(nonce, body, purpose.encode())
    return f"{key.key_id}~{base64.urlsafe_b64encode(nonce + sealed).decode().rstrip('=')}"


def open_note(runtime: Runtime, purpose: str, value: str | None, now: dt.datetime) -> dict[str, Any] | None:
    """A note's payload, or None if absent, tampered, sealed for another purpose, under a
    retired key, or expired."""
    if not value or "~" not in value or len(value) > 4096:
        return None
    key_id, _, text = value.partition("~")
    keyring: Keyring = current_keyring(runtime)
    key = keyring.get(key_id)
    if key is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        body = _note_cipher(key, purpose).decrypt(raw[:12], raw[12:], purpose.encode())
        document = json.loads(body)
    except (binascii.Error, ValueError, InvalidTag):
        return None
    if not isinstance(document, dict) or not isinstance(document.get("p"), dict) or not isinstance(document.get("e"), int):
        return None
    if document["e"] <= now.timestamp():
        return None
    payload: dict[str, Any] = document["p"]
    return payload

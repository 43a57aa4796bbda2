"""Resolving the access key id of a signed request to its secret and its caller.

Long-term keys (AKIA…) are looked up in the in-memory view; their secrets are opened
from the sealed form once and kept in process memory (never logged, never written in
clear). Temporary keys (ASIA…) carry everything in their sealed session token, so no
store read happens for them at all.

One resolver serves a process (``credential_resolver(runtime)``): the server's request
path and the authorization API, which verifies the signatures of requests made to
users' own services, share its caches.
"""

from __future__ import annotations

import threading
import weakref

from tessera.arn import root_arn
from tessera.auth import authenticate
from tessera.auth.authenticate import ResolvedCredential
from tessera.auth.caller import Caller, SessionClaims
from tessera.auth.tokens import check_expiry, unseal
from tessera.errors import InvalidClientTokenId
from tessera.services.keys import current_keyring
from tessera.services.runtime import Runtime
from tessera.services.sts import session_caller
from tessera.services.view import AccountState


def credential_resolver(runtime: Runtime) -> authenticate.CredentialResolver:
    """The process's resolver, created on first use."""
    resolver = runtime.credentials
    if resolver is None:
        resolver = runtime.credentials = CredentialResolver(runtime)
    return resolver


class CredentialResolver:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._secrets: dict[tuple[str, str], str] = {}
        # unsealing costs ~20 µs; a token seen before is served from here (expiry is
        # still checked on every request, and the signature is always verified)
        self._claims: dict[tuple[str, str], SessionClaims] = {}
        # a long-term key's answer, valid while its account's state is the same object
        # (any write to the account installs a new one: key status, user, secret …);
        # held weakly, so a replaced state (and what it keeps) is not kept alive here
        self._long_term_answers: dict[str, tuple[weakref.ref[AccountState], ResolvedCredential]] = {}
        self._lock = threading.Lock()

    def resolve(self, access_key_id: str, security_token: str | None) -> ResolvedCredential:
        if access_key_id.startswith("ASIA"):
            return self._temporary(access_key_id, security_token)
        if security_token:
            raise InvalidClientTokenId()
        return self._long_term(access_key_id)

    def _temporary(self, access_key_id: str, token: str | None) -> ResolvedCredential:
        if not token:
            raise InvalidClientTokenId()
        claims = self._claims.get((token, access_key_id))
        if claims is None:
            claims = unseal(token, current_keyring(self._runtime), access_key_id)
            with self._lock:
                if len(self._claims) > 50_000:
                    self._claims.clear()
                self._claims[(token, access_key_id)] = claims
        check_expiry(claims, self._runtime.clock.now())
        if self._runtime.view.account(claims.account) is None:
            raise InvalidClientTokenId()
        return ResolvedCredential(claims.secret_access_key, session_caller(claims))

    def _long_term(self, access_key_id: str) -> ResolvedCredential:
        account = self._runtime.view.account_for_key(access_key_id)
        if account is None:
            raise InvalidClientTokenId()
        known = self._long_term_answers.get(access_key_id)
        if known is not None and known[0]() is account:
            return known[1]
        resolved = self._resolve_long_term(access_key_id, account)
        with self._lock:
            if len(self._long_term_answers) > 100_000:
                self._long_term_answers.clear()
            self._long_term_answers[access_key_id] = (weakref.ref(account), resolved)
        return resolved

    def _resolve_long_term(self, access_key_id: str, account: AccountState) -> ResolvedCredential:
        record = account.access_keys.get(access_key_id)
        if record is None or record.get("status") != "Active":
            raise InvalidClientTokenId()
        secret = self._secret(access_key_id, record["secret_sealed"])
        user_name = record.get("user") or ""
        if not user_name:
            caller = Caller(
                kind="root",
                account=account.account_id,
                arn=root_arn(account.account_id),
                user_id=account.account_id,
                name="",
                access_key_id=access_key_id,
            )
            return ResolvedCredential(secret, caller)
        user = account.user(user_name)
        if user is None:
            raise InvalidClientTokenId()
        caller = Caller(
            kind="user",
            account=account.account_id,
            arn=user["arn"],
            user_id=user["id"],
            name=user["name"],
            access_key_id=access_key_id,
        )
        return ResolvedCredential(secret, caller)

    def _secret(self, access_key_id: str, sealed: str) -> str:
        key = (access_key_id, sealed)
        secret = self._secrets.get(key)
        if secret is None:
            secret = self._runtime.secret_box.open(sealed, context=f"access-key:{access_key_id}")
            with self._lock:
                if len(self._secrets) > 100_000:
                    self._secrets.clear()
                self._secrets[key] = secret
        return secret

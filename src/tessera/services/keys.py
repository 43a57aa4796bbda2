"""Session-token keys: kept in the store's global scope, secrets sealed by the SecretBox.

Every node seals and opens session tokens with the same keyring, so the keys live in
the store (scope ``global``, kind ``token_key``) and reach each node through the
in-memory view; ``current_keyring`` caches the opened keyring and rebuilds it only when
the global scope's generation moves (or a staged key's activation time passes).

Rotation is staged so that no node ever receives a token sealed with a key it has not
loaded yet: ``rotate_token_key`` writes the new key with an activation time a little
in the future (``activation_delay``, longer than the view's poll interval); every node
keeps sealing with the previous key until then, and every node can already open tokens
of the new key. Older keys keep opening their tokens until those tokens have expired:
a key is dropped, at a later rotation, once it has been superseded for longer than the
longest session (36 hours, GetSessionToken/GetFederationToken) plus a margin.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from tessera.audit.events import operator_event
from tessera.auth.tokens import Keyring, TokenKey, new_token_key
from tessera.clock import iso_micros, iso_seconds
from tessera.services import records as R
from tessera.services.runtime import Runtime
from tessera.store.base import GLOBAL, Transaction

__all__ = [
    "DEFAULT_ACTIVATION_DELAY",
    "RETENTION",
    "KeyringCache",
    "current_keyring",
    "ensure_token_key",
    "rotate_token_key",
]

LONGEST_SESSION = dt.timedelta(seconds=129_600)
RETENTION = LONGEST_SESSION + dt.timedelta(hours=1)
"""How long a superseded key keeps opening tokens: the longest session plus a margin
for clock skew between nodes."""
DEFAULT_ACTIVATION_DELAY = dt.timedelta(seconds=30)
_CACHE_LOCK = threading.Lock()


def ensure_token_key(runtime: Runtime, command: str = "tessera serve") -> None:
    """Create the first token key if the store has none (called once at server start;
    safe when several nodes start together: the check runs under the scope lock)."""
    if _key_records(runtime):
        return
    now = runtime.clock.now()
    with runtime.store.write(GLOBAL) as tx:
        if not tx.list(GLOBAL, R.TOKEN_KEY):
            key_id = _insert_key(tx, runtime, now, activates=now, sequence=1)
            details = {"keyId": key_id, "activates": iso_seconds(now)}
            account = runtime.settings.management_account
            event = operator_event(service="sts", name="CreateKey", account=account, command=command, when=now, details=details)
            tx.append_audit([event])
    runtime.view.refresh([GLOBAL])


def rotate_token_key(runtime: Runtime, *, activation_delay: dt.timedelta = DEFAULT_ACTIVATION_DELAY) -> str:
    """Add a new key that seals from ``now + activation_delay`` on; drop keys superseded
    longer than ``RETENTION`` ago. Returns the new key's id."""
    now = runtime.clock.now()
    with runtime.store.write(GLOBAL) as tx:
        existing = [R.load(R.TOKEN_KEY, rec.data) for rec in tx.list(GLOBAL, R.TOKEN_KEY)]
        sequence = max((data["sequence"] for data in existing), default=0) + 1
        activates = now + activation_delay
        key_id = _insert_key(tx, runtime, now, activates=activates, sequence=sequence)
        dropped = [data["id"] for data in _expired(existing, now)]
        for dropped_id in dropped:
            tx.delete(GLOBAL, R.TOKEN_KEY, dropped_id)
        # the operator's change, recorded with it (the keys' ids and times only)
        details = {"keyId": key_id, "activates": iso_seconds(activates), "droppedKeyIds": dropped}
        account = runtime.settings.management_account
        event = operator_event(service="sts", name="RotateKey", account=account, command="tessera keys rotate", when=now, details=details)
        tx.append_audit([event])
    runtime.view.refresh([GLOBAL])
    return key_id


def current_keyring(runtime: Runtime) -> Keyring:
    """The keyring that opens every live token and seals with the active key (cached)."""
    cache = runtime.token_keyring
    if cache is None:
        with _CACHE_LOCK:
            cache = runtime.token_keyring
            if cache is None:
                cache = runtime.token_keyring = KeyringCache(runtime)
    return cache.get(runtime.clock.now())


# -- records --------------------------------------------------------------------------


def _insert_key(tx: Transaction, runtime: Runtime, now: dt.datetime, *, activates: dt.datetime, sequence: int) -> str:
    key_id = f"k{now.strftime('%y%m%d')}{secrets.token_hex(3)}"
    key = new_token_key(key_id, now)
    sealed = runtime.secret_box.seal(base64.b64encode(key.secret).decode("ascii"), context=_context(key_id))
    record: R.TokenKeyRecord = {
        "id": key_id,
        "secret_sealed": sealed,
        "created": iso_micros(now),
        "activates": iso_micros(activates),
        "sequence": sequence,
    }
    tx.insert(GLOBAL, R.TOKEN_KEY, key_id, record)
    return key_id


def _expired(keys: Sequence[R.TokenKeyRecord], now: dt.datetime) -> list[R.TokenKeyRecord]:
    """Keys superseded (a later key became active) more than ``RETENTION`` before ``now``."""
    ordered = sorted(keys, key=_order)
    out = []
    for older, newer in itertools.pairwise(ordered):
        superseded_at = _activation(newer)
        if superseded_at <= now and superseded_at + RETENTION < now:
            out.append(older)
    return out


def _key_records(runtime: Runtime) -> list[R.TokenKeyRecord]:
    return [R.load(R.TOKEN_KEY, data) for data in runtime.view.global_records(R.TOKEN_KEY)]


def _activation(data: R.TokenKeyRecord) -> dt.datetime:
    return _parse(data["activates"] or data["created"])


def _order(data: R.TokenKeyRecord) -> tuple[dt.datetime, int]:
    """Keys in the order they take over sealing: activation time, then creation order."""
    return _activation(data), data["sequence"]


def _context(key_id: str) -> str:
    return f"token-key:{key_id}"


def _parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- the cache ------------------------------------------------------------------------


@dataclass
class _Built:
    version: int
    keyring: Keyring
    valid_until: dt.datetime | None  # when a staged key becomes active


class KeyringCache:
    """The opened keyring, rebuilt when the global scope is refreshed in the view (a
    listener bumps ``_version``) or when a staged key's activation time is reached."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._version = 0
        self._built: _Built | None = None
        self._opened: dict[tuple[str, str], TokenKey] = {}
        self._lock = threading.Lock()
        runtime.view.listeners.append(self._on_refresh)

    def _on_refresh(self, scope: str) -> None:
        if scope == GLOBAL:
            with self._lock:
                self._version += 1

    def cached(self, now: dt.datetime) -> Keyring | None:
        """The keyring if the cache holds a current one, else None (never reads the view or the store)."""
        built = self._built
        if built is not None and built.version == self._version and (built.valid_until is None or now < built.valid_until):
            return built.keyring
        return None

    def get(self, now: dt.datetime) -> Keyring:
        keyring = self.cached(now)
        return keyring if keyring is not None else self._rebuild(now)

    def _rebuild(self, now: dt.datetime) -> Keyring:
        with self._lock:
            version = self._version
        records = _key_records(self._runtime)
        if not records:
            ensure_token_key(self._runtime)
            records = _key_records(self._runtime)
        keys = [self._open(data) for data in records]
        active = [data for data in records if _activation(data) <= now]
        # INVARIANT: the first key activates at creation; the fallback only guards clock skew
        current = max(active, key=_order) if active else min(records, key=_order)
        pending = [_activation(d) for d in records if _activation(d) > now]
        built = _Built(version, Keyring(tuple(keys), current["id"]), min(pending) if pending else None)
        with self._lock:
            if self._version == version:
                self._built = built
        return built.keyring

    def _open(self, data: R.TokenKeyRecord) -> TokenKey:
        cache_key = (data["id"], data["secret_sealed"])
        key = self._opened.get(cache_key)
        if key is None:
            secret = self._runtime.secret_box.open(data["secret_sealed"], context=_context(data["id"]))
            key = TokenKey(data["id"], base64.b64decode(secret), _parse(data["created"]))
            self._opened[cache_key] = key
        return key

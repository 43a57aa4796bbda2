"""When access keys and roles were last used (GetAccessKeyLastUsed, GetRole's RoleLastUsed).

Noting a use is on the hot path, so it is a dict assignment in memory; ``flush`` writes
what accumulated to the store's ``usage`` table in one batch (the server calls it every
few seconds and at shutdown). AWS itself reports last use with a delay of hours; readers
here see the in-memory value at once on the node that served the request, and the stored
one everywhere else after the next flush.

Keys: ``("access_key", key id)`` and ``("role", role id)`` in the owning account's scope
(role ids, not names, so a role deleted and created again starts without a last use).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from typing import Any

from tessera.auth.caller import Caller
from tessera.store.base import Store

ACCESS_KEY = "access_key"
ROLE = "role"
UsageKey = tuple[str, str, str]


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class UsageTracker:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: dict[UsageKey, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def note(self, caller: Caller, service: str, region: str, when: dt.datetime) -> None:
        """Record that ``caller`` signed a request that authenticated."""
        session = caller.session
        if session is None:
            self._pending[(caller.account, ACCESS_KEY, caller.access_key_id)] = {
                "date": _iso(when),
                "service": service,
                "region": region,
            }
        elif session.kind == "assumed-role" and session.role_id:
            self._pending[(session.account, ROLE, session.role_id)] = {"date": _iso(when), "region": region}

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        if pending:
            self._store.put_usage([(scope, kind, key, data) for (scope, kind, key), data in pending.items()])

    def last_use(self, account: str, kind: str, key: str) -> Mapping[str, Any] | None:
        """The newest known use: this node's unflushed note, else the stored one."""
        noted = self._pending.get((account, kind, key))
        return noted if noted is not None else self._store.get_usage(account, kind, key)

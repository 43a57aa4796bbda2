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
from tessera.clock import iso_seconds
from tessera.store.base import Store

ACCESS_KEY = "access_key"
ROLE = "role"
UsageKey = tuple[str, str, str]
Note = tuple[dt.datetime, str, str]  # when, service ("" for roles), region


class UsageTracker:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: dict[UsageKey, Note] = {}
        self._flushing: dict[UsageKey, Note] = {}  # being written: still visible to readers
        self._lock = threading.Lock()

    def note(self, caller: Caller, service: str, region: str, when: dt.datetime) -> None:
        """Record that ``caller`` signed a request that authenticated."""
        session = caller.session
        if session is None:
            key: UsageKey = (caller.account, ACCESS_KEY, caller.access_key_id)
        elif session.kind == "assumed-role" and session.role_id:
            key, service = (session.account, ROLE, session.role_id), ""
        else:
            return
        note = (when, service, region)
        lock = self._lock
        lock.acquire()  # not ``with``: its two method calls cost twice the lock itself
        try:
            self._pending[key] = note
        finally:
            lock.release()

    def flush(self) -> None:
        """Write the notes taken since the last flush. They stay visible to ``last_use``
        until written; if the write fails they are kept (older than any newer note) for
        the next flush."""
        with self._lock:
            batch, self._pending = self._pending, {}
            self._flushing = batch
        try:
            if batch:
                self._store.put_usage([(*key, _document(note)) for key, note in batch.items()])
        except Exception:
            with self._lock:
                self._pending = {**batch, **self._pending}
            raise
        finally:
            with self._lock:
                self._flushing = {}

    def last_use(self, account: str, kind: str, key: str) -> Mapping[str, Any] | None:
        """The newest known use: this node's unwritten note, else the stored one."""
        wanted = (account, kind, key)
        with self._lock:
            noted = self._pending.get(wanted) or self._flushing.get(wanted)
        return _document(noted) if noted is not None else self._store.get_usage(account, kind, key)

    def all_uses(self, account: str, kind: str) -> dict[str, Mapping[str, Any]]:
        """``last_use`` of every key of ``kind`` in ``account`` at once (one store query)."""
        found = dict(self._store.list_usage(account, kind))
        with self._lock:
            noted = {**self._flushing, **self._pending}
        for (scope, noted_kind, key), note in noted.items():
            if scope == account and noted_kind == kind:
                found[key] = _document(note)
        return found


def _document(note: Note) -> dict[str, Any]:
    """The stored form: ``{"date", "region"}`` plus ``"service"`` for access keys."""
    when, service, region = note
    document: dict[str, Any] = {"date": iso_seconds(when), "region": region}
    if service:
        document["service"] = service
    return document

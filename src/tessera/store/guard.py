"""A guard that keeps store I/O off the event loop.

Handlers registered ``inline=True`` (``services.request.operation``) run on the event
loop, between two awaits: one database round trip there stalls every connection of
the process. The server marks the thread while it runs such a step
(``LOOP_GUARD.enter()`` … ``leave()``), and the store ``open_runtime`` builds is a
``GuardedStore``, whose every method first checks that it is not called from the marked
thread. A handler that wrongly touches the store then fails loudly (a logged
``StoreOnEventLoop``, answered as InternalFailure) instead of quietly blocking the
loop; the unit tests run every inline handler under the same guard.

The check is one ``threading.get_ident()`` and one comparison per store call (store
calls cost a database round trip), and two attribute writes per inline step.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from tessera.store.base import AuditLookup, AuditPosition, BudgetChange, ChangeFeed, Snapshot, Store, Transaction

__all__ = ["LOOP_GUARD", "EventLoopGuard", "GuardedStore", "StoreOnEventLoop"]


class StoreOnEventLoop(RuntimeError):
    """The store was used by a step running on the event loop."""


class EventLoopGuard:
    """Which thread, if any, is running an inline step right now."""

    __slots__ = ("thread",)

    def __init__(self) -> None:
        self.thread = 0  # thread identities are never 0

    def enter(self) -> None:
        self.thread = threading.get_ident()

    def leave(self) -> None:
        self.thread = 0

    def active(self) -> bool:
        """Whether the calling thread is running a marked step (so must not block)."""
        return self.thread == threading.get_ident()

    def check(self) -> None:
        if self.thread == threading.get_ident():
            raise StoreOnEventLoop("store used by a step running on the event loop (an inline handler)")


LOOP_GUARD = EventLoopGuard()
"""The process's guard: there is one event loop per server process."""


class GuardedStore:
    """``inner``, refusing every call made from the thread ``guard`` marks."""

    def __init__(self, inner: Store, guard: EventLoopGuard = LOOP_GUARD) -> None:
        self.inner = inner
        self.guard = guard

    def write(self, *scopes: str) -> AbstractContextManager[Transaction]:
        self.guard.check()
        return self.inner.write(*scopes)

    def read(self) -> AbstractContextManager[Transaction]:
        self.guard.check()
        return self.inner.read()

    def scopes(self) -> list[str]:
        self.guard.check()
        return self.inner.scopes()

    def generations(self) -> dict[str, int]:
        self.guard.check()
        return self.inner.generations()

    def snapshot(self, scope: str) -> Snapshot:
        self.guard.check()
        return self.inner.snapshot(scope)

    def changes(self, scope: str, since: int) -> ChangeFeed | None:
        self.guard.check()
        return self.inner.changes(scope, since)

    def append_audit(self, events: Sequence[Mapping[str, Any]]) -> None:
        self.guard.check()
        self.inner.append_audit(events)

    def query_audit(
        self,
        *,
        principal: str | None = None,
        event_name: str | None = None,
        start: str | None = None,
        end: str | None = None,
        outcome: str | None = None,
        errors_only: bool = False,
        limit: int | None = 1000,
    ) -> Iterator[Mapping[str, Any]]:
        self.guard.check()
        return self.inner.query_audit(
            principal=principal, event_name=event_name, start=start, end=end, outcome=outcome, errors_only=errors_only, limit=limit
        )

    def lookup_audit(self, query: AuditLookup) -> list[tuple[AuditPosition, Mapping[str, Any]]]:
        self.guard.check()
        return self.inner.lookup_audit(query)

    def delete_audit_before(self, before: str, limit: int) -> int:
        self.guard.check()
        return self.inner.delete_audit_before(before, limit)

    def claim(self, kind: str, key: str, until: dt.datetime, now: dt.datetime) -> bool:
        self.guard.check()
        return self.inner.claim(kind, key, until, now)

    def read_budgets(self, kind: str, keys: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        self.guard.check()
        return self.inner.read_budgets(kind, keys)

    def update_budget(self, kind: str, key: str, change: BudgetChange, now: dt.datetime) -> Mapping[str, Any] | None:
        self.guard.check()
        return self.inner.update_budget(kind, key, change, now)

    def put_usage(self, entries: Sequence[tuple[str, str, str, Mapping[str, Any]]]) -> None:
        self.guard.check()
        self.inner.put_usage(entries)

    def get_usage(self, scope: str, kind: str, key: str) -> Mapping[str, Any] | None:
        self.guard.check()
        return self.inner.get_usage(scope, kind, key)

    def list_usage(self, scope: str, kind: str) -> dict[str, Mapping[str, Any]]:
        self.guard.check()
        return self.inner.list_usage(scope, kind)

    def close(self) -> None:
        self.inner.close()

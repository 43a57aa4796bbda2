"""A real store that fails on demand, through the store's own error translation: what the
store-failure and readiness tests build the app over (the ``served`` fixture is in this
folder's conftest), and the ASGI requests these tests send it."""

from __future__ import annotations

import asyncio
import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy.exc import OperationalError

from bench.inproc import ACCOUNT, exchange
from bench.inproc import call as inproc_call
from tessera.server.app import TesseraApp
from tessera.store.base import BackendError, BudgetChange, ChangeFeed, Snapshot, Store, Transaction
from tessera.store.sql import _backend_errors

# What the driver says when the server closed the connection; the statement and the
# host must never reach a client.
DRIVER_TEXT = "server closed the connection unexpectedly (host db.internal.example, port 5432)"


def lost_connection(operation: str) -> BackendError:
    """The ``BackendError`` the store raises when its connection died mid-call."""
    driver_error = OperationalError("SELECT data FROM records WHERE scope = %(scope)s", {"scope": ACCOUNT}, Exception(DRIVER_TEXT))
    driver_error.connection_invalidated = True
    try:
        with _backend_errors(operation):
            raise driver_error
    except BackendError as error:
        return error
    raise AssertionError("not translated")


class FailingStore:
    """``inner``, with reads (``snapshot``, ``changes``, ``generations``), writes, writes
    to the audit trail alone (``audit_fails``: in a write transaction and by the writer),
    or the failure budgets' reads and writes (and claims) failing on demand."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.reads_fail = False
        self.writes_fail = False
        self.audit_fails = False
        self.budget_reads_fail = False
        self.budget_writes_fail = False  # failure budgets and claims

    def read_budgets(self, kind: str, keys: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        if self.budget_reads_fail:
            raise lost_connection("read")
        return self.inner.read_budgets(kind, keys)

    def update_budget(self, kind: str, key: str, change: BudgetChange, now: dt.datetime) -> Mapping[str, Any] | None:
        if self.budget_writes_fail:
            raise lost_connection("write")
        return self.inner.update_budget(kind, key, change, now)

    def claim(self, kind: str, key: str, until: dt.datetime, now: dt.datetime) -> bool:
        if self.budget_writes_fail:
            raise lost_connection("write")
        return self.inner.claim(kind, key, until, now)

    def snapshot(self, scope: str) -> Snapshot:
        if self.reads_fail:
            raise lost_connection("read")
        return self.inner.snapshot(scope)

    def changes(self, scope: str, since: int) -> ChangeFeed | None:
        if self.reads_fail:
            raise lost_connection("read")
        return self.inner.changes(scope, since)

    def generations(self) -> dict[str, int]:
        if self.reads_fail:
            raise lost_connection("read")
        return self.inner.generations()

    @contextmanager
    def write(self, *scopes: str) -> Iterator[Transaction]:
        if self.writes_fail:
            raise lost_connection("write")
        with self.inner.write(*scopes) as tx:
            yield _AuditRefusing(tx, self)

    def append_audit(self, events: Sequence[Mapping[str, Any]]) -> None:
        if self.audit_fails:
            raise lost_connection("write")
        self.inner.append_audit(events)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _AuditRefusing:
    """A write transaction whose audit inserts fail while its store's ``audit_fails``."""

    def __init__(self, inner: Transaction, store: FailingStore) -> None:
        self.inner = inner
        self.store = store

    def append_audit(self, events: Sequence[Mapping[str, Any]]) -> None:
        if self.store.audit_fails:
            raise lost_connection("write")
        self.inner.append_audit(events)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def call(app: TesseraApp, params: dict[str, str], service: str = "iam") -> tuple[int, ET.Element]:
    """One signed Query call through ``app``: its status and parsed XML body."""
    scope, receive, send, sent = exchange({**params, "Version": "2010-05-08" if service == "iam" else "2011-06-15"}, service)
    asyncio.run(app(scope, receive, send))
    return int(sent[0]["status"]), ET.fromstring(bytes(sent[1]["body"]))


def unsigned_get(app: TesseraApp, path: str, query: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> tuple[int, bytes]:
    """An unsigned ``GET path?query`` through the app's ASGI interface: status and body."""
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": [(b"host", b"127.0.0.1:8686"), *headers],
        "client": ("127.0.0.1", 5000),
        "scheme": "http",
        "server": ("127.0.0.1", 8686),
    }
    return asyncio.run(inproc_call(app, scope))

"""A pooled PostgreSQL connection ended between the pool's ping and its first statement
— ``pg_terminate_backend`` and a restarting server end a backend asynchronously — is
not an outage: work that may safely run twice (reads, the audit trail's upserts, last-use
records) runs again on a new connection. A ``write()`` block is the caller's code and is
never run twice: it fails as lost, with nothing saved, and the next one succeeds.

The race is made certain, not hoped for: the pool's ``checkout`` event, which fires after
its ping, ends the connection's backend and waits until PostgreSQL reports it gone."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

from tessera.store.base import GLOBAL, BackendError
from tessera.store.sql import SqlStore, open_store

pytestmark = pytest.mark.postgres

EVENT = {
    "eventVersion": "1.08",
    "eventID": "6a0f6b4c-2f7e-4a47-9c5b-0d3a1e9b7c11",
    "eventTime": "2024-05-01T12:00:00Z",
    "eventSource": "iam.amazonaws.com",
    "eventName": "CreateUser",
    "awsRegion": "us-east-1",
    "userIdentity": {"type": "Root", "arn": "arn:aws:iam::111111111111:root", "accountId": "111111111111"},
}


@pytest.fixture
def admin(pg_url: str) -> Iterator[Engine]:
    engine = create_engine(make_url(pg_url), poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def store(pg_url: str) -> Iterator[SqlStore]:
    opened = open_store(pg_url)
    yield opened
    opened.close()


class Killer:
    """Ends the backend of the next ``times`` connections the store checks out, after the
    pool's ping and before their first statement."""

    def __init__(self, store: SqlStore, admin: Engine) -> None:
        self.admin = admin
        self.pending = 0
        self.killed: list[int] = []
        event.listen(store._engine.pool, "checkout", self._on_checkout)

    def arm(self, times: int = 1) -> None:
        self.pending = times

    def _on_checkout(self, dbapi_connection: Any, _record: object, _proxy: object) -> None:
        if not self.pending:
            return
        self.pending -= 1
        pid = dbapi_connection.info.backend_pid
        with self.admin.begin() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with self.admin.begin() as conn:
                if not conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}).scalar_one():
                    self.killed.append(pid)
                    return
            time.sleep(0.01)
        raise AssertionError(f"backend {pid} still running")


@pytest.fixture
def killer(store: SqlStore, admin: Engine) -> Killer:
    with store.write(GLOBAL) as tx:  # the pool holds a connection to kill
        tx.put(GLOBAL, "setting", "warm", {"n": 1})
    return Killer(store, admin)


def test_audit_batch_written_on_a_new_connection_when_its_connection_was_lost(store: SqlStore, killer: Killer) -> None:
    killer.arm()
    store.append_audit([EVENT])
    assert len(killer.killed) == 1
    assert [e["eventID"] for e in store.query_audit()] == [EVENT["eventID"]]


def test_reads_run_again_on_a_new_connection(store: SqlStore, killer: Killer) -> None:
    for read in (store.generations, lambda: store.snapshot(GLOBAL), lambda: store.changes(GLOBAL, 0), lambda: list(store.query_audit())):
        killer.arm()
        read()
        assert not killer.pending
    assert len(killer.killed) == 4
    assert store.snapshot(GLOBAL).records[0].data == {"n": 1}


def test_usage_upsert_runs_again_on_a_new_connection(store: SqlStore, killer: Killer) -> None:
    killer.arm()
    store.put_usage([(GLOBAL, "key", "AKIAEXAMPLE", {"last": "2024-05-01"})])
    killer.arm()
    assert store.get_usage(GLOBAL, "key", "AKIAEXAMPLE") == {"last": "2024-05-01"}
    assert len(killer.killed) == 2


def put_setting(store: SqlStore, key: str, runs: list[str]) -> None:
    with store.write(GLOBAL) as tx:
        runs.append(key)
        tx.put(GLOBAL, "setting", key, {"key": key})


def test_a_write_block_is_not_run_twice_it_fails_as_lost_and_saves_nothing(store: SqlStore, killer: Killer) -> None:
    runs: list[str] = []
    killer.arm()
    with pytest.raises(BackendError) as lost:
        put_setting(store, "lost", runs)
    assert runs.count("lost") <= 1 and len(killer.killed) == 1
    assert lost.value.reason == "database connection lost"
    assert lost.value.client_message() == "The identity store is unavailable: could not write (database connection lost). Retry later."
    assert {r.key for r in store.snapshot(GLOBAL).records} == {"warm"}
    put_setting(store, "next", runs)  # the pool gave up the lost connection
    assert {r.key for r in store.snapshot(GLOBAL).records} == {"warm", "next"}

"""The ``Store`` contract, run against SQLite and PostgreSQL alike.

Every test receives a fresh database: a SQLite file in ``tmp_path`` or a fresh
PostgreSQL schema (``pg_url`` in tests/conftest.py). PostgreSQL is required, never
skipped: an unreachable server fails these tests.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from pgutil import base_pg_url, fresh_pg_url
from sqlalchemy import create_engine, text

from tessera.clock import FixedClock
from tessera.store import sql
from tessera.store.base import GLOBAL, AuditLookup, BackendError, ChangeFeed, Conflict, NotFound, StoreError, Transaction
from tessera.store.sql import SqlStore, default_url, open_store
from tessera.store.tables import metadata


def _head_revision() -> str:
    from alembic.script import ScriptDirectory

    import tessera.store

    return str(ScriptDirectory(str(Path(tessera.store.__file__).parent / "migrations")).get_current_head())


HEAD = _head_revision()

A = "111111111111"
B = "222222222222"
T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


_R = TypeVar("_R")

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return default_url(str(tmp_path))
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    opened = open_store(store_url, clock=FixedClock(T0))
    yield opened
    opened.close()


@pytest.fixture(scope="module", params=BACKENDS)
def shared_store(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[SqlStore]:
    """One store per backend, for tests that leave no trace (refusals, reads, audit
    queries over ``AUDIT_EVENTS``): it saves a migration per test."""
    if request.param == "sqlite":
        url, drop = default_url(str(tmp_path_factory.mktemp("shared"))), lambda: None
    else:
        url, drop = fresh_pg_url(base_pg_url())
    opened = open_store(url)
    opened.append_audit(AUDIT_EVENTS)
    yield opened
    opened.close()
    drop()


# -- records -----------------------------------------------------------------------


def test_insert_then_get_returns_the_document(store: SqlStore) -> None:
    document = {"name": "Alice", "tags": [{"Key": "k", "Value": "ü→ünïcode"}], "n": 3, "ok": True}
    with store.write(A) as tx:
        tx.insert(A, "user", "alice", document)
        assert tx.get(A, "user", "alice").data == document  # visible inside the block
    with store.read() as tx:
        record = tx.get(A, "user", "alice")
    assert (record.scope, record.kind, record.key, record.data) == (A, "user", "alice", document)


def test_get_of_a_missing_key_is_none(shared_store: SqlStore) -> None:
    with shared_store.read() as tx:
        assert tx.get(A, "user", "nobody") is None


def test_insert_of_an_existing_key_conflicts_and_leaves_the_transaction_usable(store: SqlStore) -> None:
    with store.write(A) as tx:
        tx.insert(A, "user", "alice", {"v": 1})
    with store.write(A) as tx:
        with pytest.raises(Conflict):
            tx.insert(A, "user", "alice", {"v": 2})
        tx.insert(A, "user", "bob", {"v": 3})
    with store.read() as tx:
        assert tx.get(A, "user", "alice").data == {"v": 1}
        assert tx.get(A, "user", "bob").data == {"v": 3}


def test_same_key_in_another_kind_or_scope_does_not_conflict(store: SqlStore) -> None:
    with store.write(A, B) as tx:
        tx.insert(A, "user", "x", {"where": "A user"})
        tx.insert(A, "role", "x", {"where": "A role"})
        tx.insert(B, "user", "x", {"where": "B user"})
    with store.read() as tx:
        found = [tx.get(s, k, "x").data["where"] for s, k in [(A, "user"), (A, "role"), (B, "user")]]
    assert found == ["A user", "A role", "B user"]


def test_update_replaces_the_whole_document(store: SqlStore) -> None:
    with store.write(A) as tx:
        tx.insert(A, "user", "alice", {"old": 1, "kept": 1})
        tx.update(A, "user", "alice", {"new": 2})
    with store.read() as tx:
        assert tx.get(A, "user", "alice").data == {"new": 2}


@pytest.mark.parametrize(
    "operation",
    [
        lambda tx: tx.update(A, "user", "ghost", {"x": 1}),
        lambda tx: tx.delete(A, "user", "ghost"),
    ],
    ids=["update", "delete"],
)
def test_update_and_delete_of_a_missing_key_raise_not_found(store: SqlStore, operation: Callable[[Transaction], None]) -> None:
    with store.write(A) as tx, pytest.raises(NotFound):
        operation(tx)


def test_put_inserts_then_replaces(store: SqlStore) -> None:
    with store.write(GLOBAL) as tx:
        tx.put(GLOBAL, "token_key", "current", {"v": 1})
    with store.write(GLOBAL) as tx:
        tx.put(GLOBAL, "token_key", "current", {"v": 2})
    with store.read() as tx:
        assert [r.data for r in tx.list(GLOBAL, "token_key")] == [{"v": 2}]


def test_delete_removes_the_record(store: SqlStore) -> None:
    with store.write(A) as tx:
        tx.insert(A, "user", "alice", {})
    with store.write(A) as tx:
        tx.delete(A, "user", "alice")
    with store.read() as tx:
        assert tx.get(A, "user", "alice") is None


def test_list_returns_one_kind_of_one_scope_in_code_point_order(store: SqlStore) -> None:
    keys = ["b", "a-b", "é", "B", "a", "a_b", "10", "9"]
    with store.write(A, B) as tx:
        for key in keys:
            tx.insert(A, "user", key, {"key": key})
        tx.insert(A, "role", "a", {})
        tx.insert(B, "user", "a", {})
    with store.read() as tx:
        listed = tx.list(A, "user")
    assert [r.key for r in listed] == sorted(keys)
    assert [r.data["key"] for r in listed] == sorted(keys)


def _keys_by(tx: Transaction, scope: str, kind: str, field: str, value: str) -> list[str]:
    listed = [r.key for r in tx.list_by(scope, kind, field, value)]
    assert tx.count_by(scope, kind, field, value) == len(listed)
    return listed


def test_list_by_finds_the_records_naming_a_value_in_a_string_or_list_field(store: SqlStore) -> None:
    with store.write(A, B) as tx:
        tx.insert(A, "access_key", "k2", {"user": "alice", "n": 2})
        tx.insert(A, "access_key", "k1", {"user": "alice", "n": 1})
        tx.insert(A, "access_key", "k3", {"user": "Alice"})  # exact values: no case folding
        tx.insert(A, "access_key", "root", {"user": ""})
        tx.insert(A, "mfa_device", "m", {"user": "alice"})
        tx.insert(B, "access_key", "k4", {"user": "alice"})
        tx.insert(A, "user", "u1", {"groups": ["admins", "devs", "devs"], "attached": ["arn:p"], "boundary": "arn:p"})
        tx.insert(A, "user", "u2", {"groups": ["devs"], "user": None, "attached": [7]})
    with store.read() as tx:
        assert [r.data["n"] for r in tx.list_by(A, "access_key", "user", "alice")] == [1, 2]
        assert _keys_by(tx, A, "access_key", "user", "alice") == ["k1", "k2"]
        assert _keys_by(tx, A, "access_key", "user", "") == ["root"]
        assert _keys_by(tx, A, "access_key", "user", "bob") == []
        assert _keys_by(tx, A, "user", "groups", "devs") == ["u1", "u2"]
        assert _keys_by(tx, A, "user", "groups", "admins") == ["u1"]
        assert _keys_by(tx, A, "user", "attached", "arn:p") == ["u1"]
        assert _keys_by(tx, A, "user", "boundary", "arn:p") == ["u1"]
        assert _keys_by(tx, B, "access_key", "user", "alice") == ["k4"]


def test_list_by_follows_updates_puts_and_deletes_and_rollbacks(store: SqlStore) -> None:
    with store.write(A) as tx:
        tx.insert(A, "user", "u1", {"groups": ["a", "b"]})
        tx.insert(A, "user", "u2", {"groups": ["a"]})
    with store.write(A) as tx:
        tx.update(A, "user", "u1", {"groups": ["b", "c"]})
        tx.put(A, "user", "u2", {"groups": []})
        tx.put(A, "user", "u3", {"groups": ["a"]})
        assert _keys_by(tx, A, "user", "groups", "a") == ["u3"]  # the transaction sees its own writes

    def rolled_back() -> None:
        with store.write(A) as tx:
            tx.delete(A, "user", "u3")
            tx.insert(A, "user", "u4", {"groups": ["b"]})
            raise Boom

    with pytest.raises(Boom):
        rolled_back()
    with store.read() as tx:
        assert _keys_by(tx, A, "user", "groups", "a") == ["u3"]
        assert _keys_by(tx, A, "user", "groups", "b") == ["u1"]
        assert _keys_by(tx, A, "user", "groups", "c") == ["u1"]
    with store.write(A) as tx:
        tx.delete(A, "user", "u1")
    with store.read() as tx:
        assert _keys_by(tx, A, "user", "groups", "b") == []


def test_list_by_refuses_a_field_that_is_not_indexed(shared_store: SqlStore) -> None:
    with shared_store.read() as tx:
        with pytest.raises(StoreError, match="not an indexed field"):
            tx.list_by(A, "user", "name", "alice")
        with pytest.raises(StoreError, match="not an indexed field"):
            tx.count_by(A, "user", "name", "alice")


def test_a_database_from_before_the_indexed_fields_has_its_records_indexed(store_url: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(sql.__file__).with_name("migrations")))
    engine = create_engine(store_url)
    insert = text("INSERT INTO records (scope, kind, key, data, updated_at) VALUES (:a, :kind, :key, :data, '2024-01-01')")
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0003")
            conn.execute(text("INSERT INTO scopes (scope, generation) VALUES (:a, 3)"), {"a": A})
            conn.execute(insert, {"a": A, "kind": "access_key", "key": "k1", "data": '{"user":"alice"}'})
            conn.execute(insert, {"a": A, "kind": "user", "key": "u1", "data": '{"groups":["g","g"],"name":"u1"}'})
            many = [{"a": A, "kind": "access_key", "key": f"m{i:04d}", "data": '{"user":"many"}'} for i in range(2500)]
            conn.execute(insert, many)  # more than one batch of the migration's
    finally:
        engine.dispose()
    with open_store(store_url) as store, store.read() as tx:
        assert _keys_by(tx, A, "access_key", "user", "alice") == ["k1"]
        assert _keys_by(tx, A, "user", "groups", "g") == ["u1"]
        assert tx.count_by(A, "access_key", "user", "many") == 2500


def test_returned_documents_are_fresh_copies(store: SqlStore) -> None:
    with store.write(A) as tx:
        tx.insert(A, "user", "alice", {"groups": ["g1"]})
    with store.read() as tx:
        tx.get(A, "user", "alice").data["groups"].append("mutated")
        assert tx.get(A, "user", "alice").data == {"groups": ["g1"]}


def test_documents_must_be_strict_json(store: SqlStore) -> None:
    with pytest.raises(ValueError, match="not JSON compliant"), store.write(A) as tx:
        tx.insert(A, "user", "alice", {"bad": float("nan")})


# -- transactions ------------------------------------------------------------------


class Boom(Exception):
    pass


def test_an_exception_rolls_back_every_write_and_propagates_unchanged(store: SqlStore) -> None:
    with store.write(A) as tx:
        tx.insert(A, "user", "keep", {"v": 1})
    before = store.generations()
    raised = Boom("stop")

    def write_then_fail() -> None:
        with store.write(A, B) as tx:
            tx.insert(A, "user", "new", {})
            tx.update(A, "user", "keep", {"v": 2})
            tx.insert(B, "role", "r", {})
            tx.delete(A, "user", "keep")
            raise raised

    with pytest.raises(Boom) as caught:
        write_then_fail()
    assert caught.value is raised
    with store.read() as tx:
        assert tx.get(A, "user", "new") is None
        assert tx.get(A, "user", "keep").data == {"v": 1}
        assert tx.list(B, "role") == []
    assert store.generations() == before


def test_commit_bumps_the_generation_of_written_scopes_only(store: SqlStore) -> None:
    with store.write(A, B) as tx:
        tx.put(A, "user", "u", {})
    assert store.generations() == {A: 1, B: 1}
    with store.write(A) as tx:
        tx.put(A, "user", "u", {"v": 2})
    with store.write(A) as tx:
        tx.put(A, "user", "u", {"v": 3})
    assert store.generations() == {A: 3, B: 1}
    assert store.scopes() == [A, B]


# -- the change feed ---------------------------------------------------------------


def test_each_commit_records_its_changes_under_the_generation_it_gives(store: SqlStore) -> None:
    with store.write(A, B) as tx:
        tx.insert(A, "user", "alice", {"v": 1})
        tx.put(A, "user", "bob", {"v": 1})
        tx.put(B, "role", "r", {"v": 1})
    with store.write(A) as tx:
        tx.update(A, "user", "alice", {"v": 2})
        tx.delete(A, "user", "bob")
        tx.put(A, "user", "bob", {"v": 3})
    feed = store.changes(A, 0)
    assert feed is not None and (feed.scope, feed.since, feed.generation) == (A, 0, 2)
    assert [(c.generation, c.kind, c.key, c.data) for c in feed.changes] == [
        (1, "user", "alice", {"v": 1}),
        (1, "user", "bob", {"v": 1}),
        (2, "user", "alice", {"v": 2}),
        (2, "user", "bob", None),
        (2, "user", "bob", {"v": 3}),
    ]
    since_one = store.changes(A, 1)
    assert since_one is not None and [c.generation for c in since_one.changes] == [2, 2, 2]
    other = store.changes(B, 0)
    assert other is not None and [(c.kind, c.key, c.data) for c in other.changes] == [("role", "r", {"v": 1})]


def test_the_feed_replays_to_the_snapshot(store: SqlStore) -> None:
    with store.write(A) as tx:
        for i in range(5):
            tx.put(A, "user", f"u{i}", {"v": i})
    with store.write(A) as tx:
        tx.delete(A, "user", "u1")
        tx.update(A, "user", "u2", {"v": 20})
    feed = store.changes(A, 0)
    assert feed is not None
    replayed: dict[tuple[str, str], object] = {}
    for change in feed.changes:
        if change.data is None:
            del replayed[(change.kind, change.key)]
        else:
            replayed[(change.kind, change.key)] = change.data
    snapshot = store.snapshot(A)
    assert snapshot.generation == feed.generation
    assert replayed == {(r.kind, r.key): r.data for r in snapshot.records}


def test_refused_and_rolled_back_writes_record_nothing(store: SqlStore) -> None:
    with store.write(A) as tx:
        tx.insert(A, "user", "alice", {"v": 1})
    with store.write(A) as tx:
        with pytest.raises(Conflict):
            tx.insert(A, "user", "alice", {"v": 2})
        with pytest.raises(NotFound):
            tx.delete(A, "user", "nobody")

    def rolled_back() -> None:
        with store.write(A) as tx:
            tx.put(A, "user", "carol", {})
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        rolled_back()
    feed = store.changes(A, 0)
    assert feed is not None and feed.generation == 2
    assert [(c.generation, c.key, c.data) for c in feed.changes] == [(1, "alice", {"v": 1})]


def test_a_feed_since_the_current_generation_is_empty_and_one_from_the_future_is_refused(store: SqlStore) -> None:
    assert store.changes(A, 0) == ChangeFeed(A, 0, 0)  # a scope never written
    assert store.changes(A, 1) is None
    with store.write(A) as tx:
        tx.put(A, "user", "u", {})
    assert store.changes(A, 1) == ChangeFeed(A, 1, 1)
    assert store.changes(A, 2) is None


def test_the_feed_is_trimmed_to_its_last_generations(store: SqlStore, store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sql, "FEED_GENERATIONS", 4)
    monkeypatch.setattr(sql, "TRIM_EVERY", 3)
    for i in range(1, 10):
        with store.write(A) as tx:
            tx.put(A, "user", "u", {"v": i})
    # trimmed at generations 6 (floor 2) and 9 (floor 5)
    assert store.changes(A, 4) is None
    feed = store.changes(A, 5)
    assert feed is not None and [c.data for c in feed.changes] == [{"v": 6}, {"v": 7}, {"v": 8}, {"v": 9}]
    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT min(generation) FROM changes")).scalar_one() == 6
    finally:
        engine.dispose()


def test_a_database_from_before_the_feed_starts_its_feed_at_the_current_generation(store_url: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(sql.__file__).with_name("migrations")))
    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0002")
            conn.execute(text("INSERT INTO scopes (scope, generation) VALUES (:a, 7)"), {"a": A})
            conn.execute(
                text("INSERT INTO records (scope, kind, key, data, updated_at) VALUES (:a, 'user', 'u', '{}', '2024-01-01')"), {"a": A}
            )
    finally:
        engine.dispose()
    with open_store(store_url) as store:
        assert store.changes(A, 6) is None  # never recorded: read a snapshot
        assert store.changes(A, 7) == ChangeFeed(A, 7, 7)
        with store.write(A) as tx:
            tx.put(A, "user", "v", {})
        feed = store.changes(A, 7)
        assert feed is not None and [(c.generation, c.key) for c in feed.changes] == [(8, "v")]


def test_a_fresh_store_has_no_scopes(store: SqlStore) -> None:
    assert store.generations() == {}
    assert store.scopes() == []


@pytest.mark.parametrize(
    "operation",
    [
        lambda tx: tx.get(B, "user", "x"),
        lambda tx: tx.list(B, "user"),
        lambda tx: tx.list_by(B, "user", "groups", "g"),
        lambda tx: tx.count_by(B, "user", "groups", "g"),
        lambda tx: tx.insert(B, "user", "x", {}),
        lambda tx: tx.update(B, "user", "x", {}),
        lambda tx: tx.put(B, "user", "x", {}),
        lambda tx: tx.delete(B, "user", "x"),
    ],
    ids=["get", "list", "list_by", "count_by", "insert", "update", "put", "delete"],
)
def test_write_refuses_any_access_to_a_scope_it_did_not_lock(shared_store: SqlStore, operation: Callable[[Transaction], object]) -> None:
    with pytest.raises(StoreError, match="not locked"), shared_store.write(A) as tx:
        operation(tx)
    assert B not in shared_store.generations()


@pytest.mark.parametrize(
    "operation",
    [
        lambda tx: tx.insert(A, "user", "x", {}),
        lambda tx: tx.update(A, "user", "x", {}),
        lambda tx: tx.put(A, "user", "x", {}),
        lambda tx: tx.delete(A, "user", "x"),
    ],
    ids=["insert", "update", "put", "delete"],
)
def test_read_transactions_refuse_writes(shared_store: SqlStore, operation: Callable[[Transaction], object]) -> None:
    with pytest.raises(StoreError, match="cannot write"), shared_store.read() as tx:
        operation(tx)


def test_a_transaction_cannot_be_used_after_its_block(store: SqlStore) -> None:
    with store.write(A) as tx:
        pass
    with pytest.raises(StoreError, match="after its block"):
        tx.get(A, "user", "x")


def test_write_needs_a_scope(shared_store: SqlStore) -> None:
    with pytest.raises(StoreError), shared_store.write():
        pass


def test_nested_writes_in_one_thread_are_refused_rather_than_deadlocking(store: SqlStore) -> None:
    with store.write(A) as tx:
        with pytest.raises(StoreError, match="cannot nest"), store.write(B):
            pass
        tx.put(A, "user", "u", {})
    with store.write(B) as tx:  # the outer block's exit re-armed writes
        tx.put(B, "user", "u", {})
    assert store.generations() == {A: 1, B: 1}


def test_no_other_write_runs_inside_a_write_block(store: SqlStore) -> None:
    """A claim, a budget or the trail's batch from inside write() would wait for the
    block's own lock: each is refused at once, and the block still commits."""
    with store.write(A) as tx:
        for other in (
            lambda: store.claim("saml", "k", T0 + dt.timedelta(minutes=5), T0),
            lambda: store.update_budget("mfa", "k", lambda stored: ({"n": 1}, T0), T0),
            lambda: store.append_audit([]),
            lambda: store.put_usage([(A, "role", "AROA1", {"date": "2026-01-01T00:00:00Z"})]),
        ):
            with pytest.raises(StoreError, match="cannot nest"):
                other()
        tx.put(A, "user", "u", {})
    assert store.generations() == {A: 1}
    assert store.claim("saml", "k", T0 + dt.timedelta(minutes=5), T0)  # outside it, they run


def test_snapshot_holds_a_scope_with_its_generation(store: SqlStore) -> None:
    with store.write(A, B) as tx:
        tx.put(A, "user", "b", {"n": 2})
        tx.put(A, "role", "z", {"n": 3})
        tx.put(A, "user", "a", {"n": 1})
        tx.put(B, "user", "other", {})
    snapshot = store.snapshot(A)
    assert (snapshot.scope, snapshot.generation) == (A, 1)
    assert [(r.kind, r.key, r.data["n"]) for r in snapshot.records] == [
        ("role", "z", 3),
        ("user", "a", 1),
        ("user", "b", 2),
    ]


def test_snapshot_of_an_unknown_scope_is_empty_at_generation_zero(shared_store: SqlStore) -> None:
    snapshot = shared_store.snapshot(B)
    assert (snapshot.generation, snapshot.records) == (0, ())


def test_a_reader_keeps_its_snapshot_and_does_not_block_a_writer(store: SqlStore) -> None:
    with store.write(A) as tx:
        tx.put(A, "user", "u", {"v": 1})

    def writer() -> None:
        with store.write(A) as tx:
            tx.put(A, "user", "u", {"v": 2})

    with store.read() as tx:
        assert tx.get(A, "user", "u").data == {"v": 1}
        with ThreadPoolExecutor(1) as pool:
            pool.submit(writer).result(timeout=30)
        assert tx.get(A, "user", "u").data == {"v": 1}
    with store.read() as tx:
        assert tx.get(A, "user", "u").data == {"v": 2}


# -- concurrency -------------------------------------------------------------------


def test_concurrent_read_modify_write_loses_no_update(store: SqlStore) -> None:
    threads, increments = 8, 25
    with store.write(A) as tx:
        tx.insert(A, "counter", "c", {"n": 0})
    start = threading.Barrier(threads)

    def increment_repeatedly() -> None:
        start.wait(timeout=30)
        for _ in range(increments):
            with store.write(A) as tx:
                current = tx.get(A, "counter", "c")
                tx.update(A, "counter", "c", {"n": current.data["n"] + 1})

    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(increment_repeatedly) for _ in range(threads)]:
            future.result(timeout=60)
    with store.read() as tx:
        assert tx.get(A, "counter", "c").data == {"n": threads * increments}
    assert store.generations()[A] == 1 + threads * increments


@pytest.mark.postgres
def test_postgres_writers_to_different_scopes_do_not_wait_for_each_other(pg_url: str) -> None:
    with open_store(pg_url) as store:
        holding_a = threading.Event()
        b_committed = threading.Event()

        def hold_a_until_b_commits() -> bool:
            with store.write(A) as tx:
                tx.put(A, "user", "u", {})
                holding_a.set()
                return b_committed.wait(timeout=30)

        with ThreadPoolExecutor(2) as pool:
            holder = pool.submit(hold_a_until_b_commits)
            assert holding_a.wait(timeout=30)
            with store.write(B) as tx:
                tx.put(B, "user", "u", {})
            b_committed.set()
            assert holder.result(timeout=30), "write(B) committed only after write(A) ended"
        assert store.generations() == {A: 1, B: 1}


# -- lifecycle and migrations ------------------------------------------------------


def test_reopening_keeps_records_generations_and_audit(store_url: str) -> None:
    with open_store(store_url) as store:
        with store.write(A) as tx:
            tx.insert(A, "user", "alice", {"v": 1})
        store.append_audit([audit_event("e1", "2024-05-01T12:00:00Z")])
    with open_store(store_url) as store:
        with store.read() as tx:
            assert tx.get(A, "user", "alice").data == {"v": 1}
        assert store.generations() == {A: 1}
        assert [e["eventID"] for e in store.query_audit()] == ["e1"]


def test_migrating_an_up_to_date_database_is_a_no_op(store_url: str) -> None:
    with open_store(store_url) as store, store.write(A) as tx:
        tx.insert(A, "user", "alice", {})
    for _ in range(2):
        open_store(store_url).close()
    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [HEAD]
            assert conn.execute(text("SELECT count(*) FROM records")).scalar_one() == 1
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_table_definitions(store_url: str) -> None:
    open_store(store_url).close()
    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()
    assert differences == []


STARTER = """
import sys
from tessera.store.sql import open_store
print("ready", flush=True)
sys.stdin.readline()
open_store(sys.argv[1]).close()
"""


@pytest.mark.postgres
def test_postgres_processes_starting_together_migrate_once_in_their_own_schema(pg_url: str) -> None:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", STARTER, pg_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for process in processes:  # all imported and waiting: release them together
            assert process.stdout.readline() == "ready\n"
        for process in processes:
            process.stdin.write("go\n")
            process.stdin.flush()
        outcomes = [process.communicate(timeout=60) for process in processes]
    finally:
        for process in processes:
            process.kill()
            process.wait()
    assert [p.returncode for p in processes] == [0, 0], [err for _, err in outcomes]
    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
            tables = conn.execute(
                text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"),
                {"s": schema},
            ).scalars()
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    finally:
        engine.dispose()
    assert schema.startswith("tessera_test_")
    assert set(tables) == {"alembic_version", "scopes", "records", "changes", "record_refs", "audit_events", "usage", "claims", "budgets"}
    assert versions == [HEAD]


def test_stores_opened_by_concurrent_threads_each_migrate(tmp_path) -> None:
    urls = [default_url(str(tmp_path / f"data{n}")) for n in range(4)]
    start = threading.Barrier(len(urls))

    def open_write_close(url: str) -> dict[str, int]:
        start.wait(timeout=30)
        with open_store(url) as store:
            with store.write(A) as tx:
                tx.put(A, "user", "u", {})
            return store.generations()

    with ThreadPoolExecutor(len(urls)) as pool:
        results = list(pool.map(open_write_close, urls, timeout=60))
    assert results == [{A: 1}] * len(urls)


@pytest.mark.parametrize(
    "url",
    ["sqlite://", "sqlite:///:memory:", "mysql://localhost/x", "not a url"],
    ids=["sqlite-no-file", "sqlite-memory", "unsupported", "unparseable"],
)
def test_open_store_rejects_urls_it_cannot_serve(url: str) -> None:
    with pytest.raises(StoreError):
        open_store(url)


def test_an_unreachable_database_is_a_backend_error() -> None:
    with pytest.raises(BackendError, match="database error"):
        open_store("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=5")


def test_default_url_is_a_sqlite_file_in_the_data_dir(tmp_path) -> None:
    url = default_url(str(tmp_path / "data"))
    assert url == f"sqlite:///{tmp_path / 'data' / 'tessera.db'}"
    open_store(url).close()
    assert (tmp_path / "data" / "tessera.db").is_file()


def test_sqlite_runs_in_wal_mode_with_full_synchronous_commits(tmp_path) -> None:
    url = default_url(str(tmp_path))
    with open_store(url) as store:
        with store.write(A) as tx:
            tx.put(A, "user", "u", {})
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        finally:
            engine.dispose()


# -- audit -------------------------------------------------------------------------


def audit_event(
    event_id: str,
    event_time: str,
    *,
    name: str = "CreateUser",
    arn: str = "arn:aws:iam::111111111111:user/alice",
    access_key: str = "AKIAALICE",
    error: str | None = None,
) -> dict[str, object]:
    event: dict[str, object] = {
        "eventVersion": "1.08",
        "eventID": event_id,
        "eventTime": event_time,
        "eventName": name,
        "eventSource": "iam.amazonaws.com",
        "userIdentity": {"type": "IAMUser", "arn": arn, "accessKeyId": access_key},
    }
    if error is not None:
        event["errorCode"] = error
    return event


AUDIT_EVENTS = [
    audit_event("e3", "2024-05-01T12:00:02Z", name="DeleteUser", error="NoSuchEntity"),
    audit_event("e1", "2024-05-01T12:00:00Z"),
    audit_event("e2", "2024-05-01T14:00:01+02:00", arn="arn:aws:iam::111111111111:user/bob", access_key="AKIABOB"),
    audit_event("e4", "2024-05-01T12:00:03Z", name="GetCallerIdentity", access_key="ASIATEMP"),
    audit_event("e5", "2024-05-01T12:00:04Z", name="GetUser", error="AccessDenied"),
]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["e1", "e2", "e3", "e4", "e5"]),
        ({"principal": "arn:aws:iam::111111111111:user/bob"}, ["e2"]),
        ({"principal": "ASIATEMP"}, ["e4"]),
        ({"event_name": "DeleteUser"}, ["e3"]),
        ({"start": "2024-05-01T12:00:02Z"}, ["e3", "e4", "e5"]),
        ({"end": "2024-05-01T12:00:01Z"}, ["e1", "e2"]),
        ({"start": "2024-05-01T14:00:01+02:00", "end": "2024-05-01T12:00:02"}, ["e2", "e3"]),
        ({"errors_only": True}, ["e3", "e5"]),
        ({"outcome": "success"}, ["e1", "e2", "e4"]),
        ({"outcome": "error"}, ["e3"]),
        ({"outcome": "denied"}, ["e5"]),
        ({"limit": 2}, ["e1", "e2"]),
        ({"limit": None}, ["e1", "e2", "e3", "e4", "e5"]),
        ({"principal": "arn:aws:iam::111111111111:user/alice", "event_name": "CreateUser"}, ["e1"]),
    ],
    ids=[
        "all-oldest-first",
        "principal-arn",
        "principal-access-key",
        "event-name",
        "start-inclusive",
        "end-inclusive",
        "bounds-in-other-offsets",
        "errors-only",
        "outcome-success",
        "outcome-error",
        "outcome-denied",
        "limit",
        "no-limit",
        "combined",
    ],
)
def test_query_audit_filters(shared_store: SqlStore, filters: dict[str, object], expected: list[str]) -> None:
    assert [e["eventID"] for e in shared_store.query_audit(**filters)] == expected


def test_audit_events_come_back_as_appended(shared_store: SqlStore) -> None:
    returned = {e["eventID"]: e for e in shared_store.query_audit()}
    assert returned == {e["eventID"]: e for e in AUDIT_EVENTS}


def test_appending_in_batches_with_repeats_stores_each_event_once(store: SqlStore) -> None:
    store.append_audit(AUDIT_EVENTS[:2])
    store.append_audit(AUDIT_EVENTS[:3])
    store.append_audit([])
    assert [e["eventID"] for e in store.query_audit()] == ["e1", "e2", "e3"]


def test_an_appended_event_replaces_the_stored_one_of_its_id(store: SqlStore) -> None:
    """The writer completes an event a write committed (response elements, error)."""
    store.append_audit([audit_event("e1", "2024-05-01T12:00:00Z")])
    store.append_audit([{**audit_event("e1", "2024-05-01T12:00:00Z", error="AccessDenied"), "responseElements": {"x": 1}}])
    (event,) = store.query_audit()
    assert event["errorCode"] == "AccessDenied" and event["responseElements"] == {"x": 1}
    assert [e["eventID"] for e in store.query_audit(outcome="denied")] == ["e1"]


def test_a_write_transaction_commits_its_audit_event_with_its_change_or_neither(store: SqlStore) -> None:
    with store.write(A) as tx:
        tx.insert(A, "user", "kept", {"n": 1})
        tx.append_audit([audit_event("kept", "2024-05-01T12:00:00Z")])
        tx.append_audit([audit_event("kept", "2024-05-01T12:00:00Z", error="Ignored")])  # already there: left as is

    def failing_write() -> None:
        with store.write(A) as tx:
            tx.insert(A, "user", "lost", {"n": 1})
            tx.append_audit([audit_event("lost", "2024-05-01T12:00:01Z")])
            raise RuntimeError("the handler failed after writing")

    with pytest.raises(RuntimeError):
        failing_write()
    with store.read() as tx:
        assert tx.get(A, "user", "kept") is not None and tx.get(A, "user", "lost") is None
        with pytest.raises(StoreError, match="cannot write"):
            tx.append_audit([audit_event("read", "2024-05-01T12:00:02Z")])
    assert [(e["eventID"], e.get("errorCode")) for e in store.query_audit()] == [("kept", None)]


def test_query_audit_reads_page_by_page_in_order(store: SqlStore) -> None:
    """More events than a page, many in one second: keyset pagination on (time, seq)
    neither repeats nor skips one, and a limit cuts across pages."""
    events = [
        audit_event(f"p{n:04d}", f"2024-05-01T12:00:{n // 400:02d}Z", error="AccessDenied" if n % 7 == 0 else None) for n in range(1234)
    ]
    for start in range(0, len(events), 300):
        store.append_audit(events[start : start + 300])
    assert [e["eventID"] for e in store.query_audit(limit=None)] == [e["eventID"] for e in events]
    assert [e["eventID"] for e in store.query_audit(limit=777)] == [e["eventID"] for e in events[:777]]
    denied = [e["eventID"] for e in events if e.get("errorCode")]
    assert [e["eventID"] for e in store.query_audit(outcome="denied", limit=None)] == denied
    with pytest.raises(ValueError, match="unknown outcome"):
        store.query_audit(outcome="maybe")


def test_lookup_audit_finds_an_accounts_events_without_an_arn_and_no_others(store: SqlStore) -> None:
    """An event whose caller has no ARN is read for the account that received it (an
    operator's change, a sign-in that named no user), never for another, and the
    refusals of requests no account signed (``recipientAccountId`` "") are read for none:
    anyone can make those, and they must not fill an account's pages."""

    def arnless(event_id: str, recipient: str) -> dict[str, object]:
        event = {**audit_event(event_id, "2024-05-01T12:00:00Z"), "recipientAccountId": recipient}
        event["userIdentity"] = {"accountId": recipient, "invokedBy": "AWS Internal"} if recipient else {"type": "Unknown"}
        return event

    store.append_audit([arnless("op", "111111111111"), arnless("other-op", "222222222222"), *(arnless(f"anon{n}", "") for n in range(50))])
    assert [e["eventID"] for _, e in store.lookup_audit(AuditLookup(account="111111111111", limit=100))] == ["op"]
    assert [e["eventID"] for _, e in store.lookup_audit(AuditLookup(account="222222222222", limit=100))] == ["other-op"]
    assert store.lookup_audit(AuditLookup(account="333333333333", limit=100)) == []


def test_lookup_audit_pages_newest_first_over_one_accounts_events(store: SqlStore) -> None:
    """LookupEvents' reads: one account's events (and those whose caller has no ARN, for
    the reader to check), newest first, resumed strictly before a position, filtered by
    the indexed columns."""
    other = "arn:aws:iam::222222222222:user/carol"
    events = [audit_event(f"m{n:03d}", f"2024-05-01T12:00:{n // 50:02d}Z", name="GetUser" if n % 3 else "CreateUser") for n in range(250)]
    events += [audit_event(f"o{n}", "2024-05-01T12:00:01Z", arn=other) for n in range(5)]
    saml = {
        **audit_event("s1", "2024-05-01T12:00:02Z", name="ListRoles"),
        "userIdentity": {"type": "SAMLUser", "identityProvider": "Q1w2E3r4"},
    }
    store.append_audit([*events, saml])
    mine = [e["eventID"] for e in reversed(events) if e["eventID"].startswith("m")]
    seen: list[str] = []
    query = AuditLookup(account="111111111111", limit=40)
    while True:
        rows = store.lookup_audit(query)
        seen += [event["eventID"] for _, event in rows]
        if len(rows) < query.limit:
            break
        query = dataclasses.replace(query, before=rows[-1][0])
    assert [i for i in seen if i != "s1"] == mine and "s1" in seen
    created = store.lookup_audit(AuditLookup(account="111111111111", limit=500, event_name="CreateUser"))
    assert [e["eventID"] for _, e in created] == [i for i in mine if int(i[1:]) % 3 == 0]
    window = store.lookup_audit(AuditLookup(account="222222222222", limit=10, start="2024-05-01T12:00:01Z", end="2024-05-01T12:00:01Z"))
    assert sorted(e["eventID"] for _, e in window) == [f"o{n}" for n in range(5)]
    by_id = store.lookup_audit(AuditLookup(account="111111111111", limit=10, event_id="m007"))
    assert [e["eventID"] for _, e in by_id] == ["m007"]
    with pytest.raises(ValueError, match="account"):
        store.lookup_audit(AuditLookup(account="1%", limit=1))


def test_delete_audit_before_removes_only_older_events_in_bounded_batches(store: SqlStore) -> None:
    store.append_audit([audit_event(f"d{n}", f"2024-05-01T12:00:{n:02d}Z") for n in range(10)])
    assert store.delete_audit_before("2024-05-01T12:00:05Z", 3) == 3
    assert store.delete_audit_before("2024-05-01T12:00:05Z", 3) == 2
    assert store.delete_audit_before("2024-05-01T12:00:05Z", 3) == 0
    assert [e["eventID"] for e in store.query_audit()] == [f"d{n}" for n in range(5, 10)]


def test_a_batch_larger_than_one_statement_keeps_its_order_and_skips_repeats(store: SqlStore) -> None:
    events = [audit_event(f"big-{i:03d}", "2024-05-01T12:00:00Z") for i in range(250)]
    store.append_audit(events[:5])
    store.append_audit([*events, events[7], events[120]])  # repeats: stored before, and within the batch
    assert [e["eventID"] for e in store.query_audit(limit=1000)] == [e["eventID"] for e in events]


@pytest.mark.parametrize(
    "event",
    [
        {"eventTime": "2024-05-01T12:00:00Z", "eventName": "X"},
        audit_event("e9", "yesterday"),
    ],
    ids=["no-event-id", "bad-time"],
)
def test_append_audit_rejects_malformed_events_without_writing_the_batch(store: SqlStore, event: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"^(not an ISO-8601 time|audit event lacks)"):
        store.append_audit([audit_event("ok", "2024-05-01T12:00:00Z"), event])
    assert list(store.query_audit()) == []


def test_usage_upserts_without_bumping_generations(store: SqlStore) -> None:
    with store.write("111111111111") as tx:
        tx.insert("111111111111", "user", "u", {"n": 1})
    before = store.generations()
    store.put_usage([("111111111111", "access_key", "AKIA1", {"date": "2026-01-01T00:00:00Z", "service": "sts"})])
    store.put_usage(
        [
            ("111111111111", "access_key", "AKIA1", {"date": "2026-01-02T00:00:00Z", "service": "iam"}),
            ("111111111111", "role", "AROA1", {"date": "2026-01-02T00:00:00Z", "region": "us-east-1"}),
        ]
    )
    assert store.get_usage("111111111111", "access_key", "AKIA1") == {"date": "2026-01-02T00:00:00Z", "service": "iam"}
    assert store.get_usage("111111111111", "role", "AROA1") == {"date": "2026-01-02T00:00:00Z", "region": "us-east-1"}
    assert store.get_usage("111111111111", "role", "AROA2") is None
    assert store.generations() == before


# -- claims ------------------------------------------------------------------------


def test_a_claim_is_held_until_it_expires_then_free_again(store: SqlStore) -> None:
    until = T0 + dt.timedelta(minutes=5, microseconds=500)
    before = store.generations()
    assert store.claim("saml", "issuer|id-1", until, T0)
    assert not store.claim("saml", "issuer|id-1", until, T0 + dt.timedelta(minutes=1))
    assert store.claim("saml", "issuer|id-2", until, T0)  # another key
    assert store.claim("other", "issuer|id-1", until, T0)  # another kind
    # held past ``until`` for the grace (a node whose clock runs ahead cannot free it), to the microsecond
    freed = until + sql.CLAIM_GRACE
    assert not store.claim("saml", "issuer|id-1", until, until)
    assert not store.claim("saml", "issuer|id-1", until, freed - dt.timedelta(microseconds=1))
    assert store.claim("saml", "issuer|id-1", freed + dt.timedelta(minutes=5), freed)
    assert not store.claim("saml", "issuer|id-1", freed + dt.timedelta(minutes=5), freed)
    assert store.generations() == before  # claims are outside every scope


def test_expired_claims_are_deleted_as_new_ones_come(store: SqlStore) -> None:
    for n in range(20):
        assert store.claim("saml", f"old-{n}", T0 + dt.timedelta(seconds=n), T0)
    assert store.claim("saml", "new", T0 + dt.timedelta(hours=1), T0 + sql.CLAIM_GRACE + dt.timedelta(seconds=10))
    with store._engine.connect() as conn:  # what is left: the unexpired ones only
        left = conn.execute(text("SELECT key FROM claims WHERE kind = 'saml' ORDER BY key")).scalars().all()
    assert left == sorted(["new", *(f"old-{n}" for n in range(11, 20))])


def test_a_claim_key_is_bounded_and_times_must_be_aware(store: SqlStore) -> None:
    with pytest.raises(ValueError, match="512"):
        store.claim("saml", "k" * 513, T0, T0)
    with pytest.raises(ValueError, match="NUL"):
        store.claim("saml", "issuer\0id", T0, T0)
    with pytest.raises(ValueError, match="aware"):
        store.claim("saml", "k", T0.replace(tzinfo=None), T0)


def at_once(store_url: str, call: Callable[[SqlStore], _R], times: int = 8) -> list[_R]:
    """``call`` run ``times`` times at once, spread over four stores (four pools: four
    processes' worth) of ``store_url``: the results."""
    stores = [open_store(store_url) for _ in range(4)]
    try:
        barrier = threading.Barrier(times)

        def one(n: int) -> _R:
            barrier.wait()
            return call(stores[n % 4])

        with ThreadPoolExecutor(times) as pool:
            return list(pool.map(one, range(times)))
    finally:
        for opened in stores:
            opened.close()


def test_concurrent_claims_of_one_key_exactly_one_wins(store_url: str) -> None:
    results = at_once(store_url, lambda store: store.claim("saml", "contested", T0 + dt.timedelta(minutes=5), T0))
    assert results.count(True) == 1


# -- budgets -----------------------------------------------------------------------


def _count(stored: Any) -> tuple[dict[str, Any], dt.datetime]:
    n = (stored or {}).get("n", 0) + 1
    return {"n": n}, T0 + dt.timedelta(minutes=n)


def test_a_budget_is_created_changed_and_deleted_under_its_key(store: SqlStore) -> None:
    before = store.generations()
    assert store.read_budgets("mfa", ["principal:A", "principal:B"]) == {}
    assert store.update_budget("mfa", "principal:A", _count, T0) == {"n": 1}
    assert store.update_budget("mfa", "principal:A", _count, T0) == {"n": 2}
    assert store.update_budget("password", "principal:A", _count, T0) == {"n": 1}  # another kind
    assert store.read_budgets("mfa", ["principal:A", "principal:B"]) == {"principal:A": {"n": 2}}
    assert store.update_budget("mfa", "principal:A", lambda stored: None, T0) is None
    assert store.read_budgets("mfa", ["principal:A"]) == {}
    assert store.update_budget("mfa", "principal:B", lambda stored: None, T0) is None  # nothing stored, nothing made
    assert store.read_budgets("mfa", ["principal:B"]) == {}
    assert store.generations() == before  # budgets are outside every scope


def test_idle_budgets_are_deleted_as_others_change(store: SqlStore) -> None:
    store.update_budget("mfa", "old", _count, T0)  # idle from T0 + 1 minute
    store.update_budget("mfa", "older", lambda _: ({"n": 0}, T0), T0)
    later = T0 + dt.timedelta(minutes=1) + sql.CLAIM_GRACE
    store.update_budget("mfa", "new", _count, later - dt.timedelta(microseconds=1))
    assert set(store.read_budgets("mfa", ["old", "older", "new"])) == {"old", "new"}  # "old" is within the grace
    store.update_budget("mfa", "new", _count, later)
    assert set(store.read_budgets("mfa", ["old", "older", "new"])) == {"new"}


def test_concurrent_changes_of_one_budget_apply_one_after_the_other(store_url: str) -> None:
    results = at_once(store_url, lambda store: store.update_budget("mfa", "contested", _count, T0))
    assert sorted(result["n"] for result in results if result is not None) == list(range(1, 9))

"""``SqlStore``: the ``store.base.Store`` seam over SQLAlchemy 2 Core.

One implementation serves SQLite (the default) and PostgreSQL; every difference
between them is in this module:

* **Write locking.** SQLite has one writer per database file, so a write transaction
  starts with ``BEGIN IMMEDIATE``: concurrent writers queue on the busy timeout
  instead of failing half-way. PostgreSQL locks rows: ``write(*scopes)`` makes sure
  each scope row exists (``INSERT … ON CONFLICT DO NOTHING``) and then takes
  ``SELECT … FOR UPDATE`` on them in sorted order, so writers to one account
  serialise, writers to different accounts run in parallel, and no two writers can
  deadlock. Writes run at READ COMMITTED, which is enough under that lock: every
  statement after the lock sees what earlier writers committed.
* **Read isolation.** Readers never block writers: SQLite in WAL mode reads a
  snapshot as of the first statement; PostgreSQL reads at REPEATABLE READ, READ ONLY,
  so a snapshot's records and generation agree.
* **Change notices.** On PostgreSQL a write transaction also sends ``NOTIFY`` with
  the generations it moved, delivered to the other nodes on commit (``store/notify.py``).
* **Durability.** SQLite runs with ``synchronous=FULL``: a commit that returned
  survives a power cut.
* **Change feed.** Each write inserts the records it changed into ``changes`` under the
  generation it gives their scope, in the same transaction; every ``TRIM_EVERY``
  generations a scope's feed is cut back to its last ``FEED_GENERATIONS``, and
  ``scopes.feed_floor`` says where it now starts.
* **Indexed fields.** Each write also replaces the record's rows in ``record_refs``
  (one per value of its ``INDEXED_FIELDS``), so ``list_by``/``count_by`` are primary-key
  range scans.
* **Migrations** (Alembic, applied by ``open_store``) run in one transaction; on
  PostgreSQL under an advisory lock, so processes starting together upgrade one
  after the other and the later ones find nothing to do.

Documents are stored as compact, key-sorted JSON text, the same bytes on both backends.
"""

from __future__ import annotations

import builtins
import datetime as _dt
import functools
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Row,
    Select,
    Table,
    and_,
    create_engine,
    delete,
    event,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.sql.dml import Delete

from tessera.clock import Clock, SystemClock, iso_seconds
from tessera.store import notify
from tessera.store.base import (
    AUDIT_OUTCOMES,
    DENIED_ERROR_CODES,
    INDEXED_FIELDS,
    AuditLookup,
    AuditPosition,
    BackendError,
    BudgetChange,
    Change,
    ChangeFeed,
    Conflict,
    NotFound,
    Record,
    Snapshot,
    StoreError,
    Transaction,
)
from tessera.store.tables import audit_events, budgets, claims, record_refs, records, usage
from tessera.store.tables import changes as changes_table
from tessera.store.tables import scopes as scopes_table

__all__ = ["SqlStore", "default_url", "open_store"]

log = logging.getLogger("tessera.store")

DATABASE_FILE = "tessera.db"
SQLITE_BUSY_TIMEOUT_MS = 60_000
# pg_advisory_xact_lock(class, object): the class is ours ("tsra"), the object is the
# hash of the current schema, so databases shared by several schemas (the test suite)
# only serialise migrations of the same schema.
_MIGRATION_LOCK_CLASS = 0x74737261
_SQLITE_BEGIN = "tessera_sqlite_begin"  # execution option read by _begin_sqlite
_MIGRATIONS = Path(__file__).with_name("migrations")
# Alembic's ``context`` and ``op`` are module-global proxies: two upgrades running in
# one process at once (servers started in threads, each on its own database) would
# drive each other's connections. The database lock covers other processes.
_ALEMBIC_IN_PROCESS = threading.Lock()

#: How many generations of changes each scope's feed keeps: a view further behind
#: than this reads a snapshot instead.
FEED_GENERATIONS = 1000
#: A scope's feed is trimmed when its generation is a multiple of this.
TRIM_EVERY = 100

_P = ParamSpec("_P")
_T = TypeVar("_T")
_Insert = Callable[[Table], "postgresql.Insert | sqlite.Insert"]


def default_url(data_dir: str) -> str:
    """The SQLite database inside a data directory (``<data_dir>/tessera.db``)."""
    return f"sqlite:///{Path(data_dir).absolute() / DATABASE_FILE}"


def open_store(url: str, *, clock: Clock | None = None) -> SqlStore:
    """Connect, bring the schema to the latest migration, and return the store.

    ``url`` is a SQLAlchemy URL: ``sqlite:///PATH`` or ``postgresql+psycopg://…``
    (plain ``postgresql://`` means psycopg 3 too). ``clock`` stamps ``updated_at``."""
    engine = _create_engine(url)
    try:
        _upgrade_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    return SqlStore(engine, clock=clock or SystemClock())


class SqlStore:
    """Thread-safe: every call checks a connection out of the engine's pool."""

    def __init__(self, engine: Engine, *, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock
        self._postgres = engine.dialect.name == "postgresql"
        self._insert: _Insert = postgresql.insert if self._postgres else sqlite.insert
        mark = "%s" if self._postgres else "?"
        insert = f"INSERT INTO audit_events ({', '.join(_AUDIT_COLUMNS)}) VALUES ({', '.join([mark] * len(_AUDIT_COLUMNS))})"
        self._audit_insert = f"{insert} ON CONFLICT (event_id) DO NOTHING"
        replaced = ", ".join(f"{column} = excluded.{column}" for column in _AUDIT_COLUMNS[1:])
        self._audit_upsert = f"{insert} ON CONFLICT (event_id) DO UPDATE SET {replaced}"
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"SqlStore({self._engine.url.render_as_string(hide_password=True)!r})"

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def write(self, *scopes: str) -> Iterator[Transaction]:
        names = _scope_names(scopes)
        with _backend_errors("write"), self._transaction(write=True) as conn, self._single_writer():
            self._lock_scopes(conn, names)
            tx = _SqlTransaction(conn, self._insert, self._clock, frozenset(names), self._audit_insert)
            try:
                yield tx
            finally:
                tx.close()
            self._commit_changes(conn, names, tx.feed)
            if self._postgres:  # tell the other nodes' listeners on commit (store/notify.py)
                notify.announce(conn, names)

    @contextmanager
    def read(self) -> Iterator[Transaction]:
        with _backend_errors("read"), self._transaction(write=False) as conn:
            tx = _SqlTransaction(conn, self._insert, self._clock, None, self._audit_insert)
            try:
                yield tx
            finally:
                tx.close()

    def scopes(self) -> list[str]:
        return list(self.generations())

    def generations(self) -> dict[str, int]:
        query = select(scopes_table.c.scope, scopes_table.c.generation).order_by(scopes_table.c.scope)
        return self._idempotent("read", lambda conn: dict(conn.execute(query).tuples().all()))

    def snapshot(self, scope: str) -> Snapshot:
        generation_query = select(scopes_table.c.generation).where(scopes_table.c.scope == scope)
        records_query = (
            select(records.c.scope, records.c.kind, records.c.key, records.c.data)
            .where(records.c.scope == scope)
            .order_by(records.c.kind, records.c.key)
        )

        def read(conn: Connection) -> Snapshot:
            generation = conn.execute(generation_query).scalar_one_or_none()
            rows = conn.execute(records_query).all()
            return Snapshot(scope, generation or 0, tuple(_record(row) for row in rows))

        return self._idempotent("read", read)

    def changes(self, scope: str, since: int) -> ChangeFeed | None:
        floor_query = select(scopes_table.c.generation, scopes_table.c.feed_floor).where(scopes_table.c.scope == scope)
        feed_query = (
            select(changes_table.c.generation, changes_table.c.kind, changes_table.c.key, changes_table.c.data)
            .where(changes_table.c.scope == scope, changes_table.c.generation > since)
            .order_by(changes_table.c.seq)
        )

        def read(conn: Connection) -> ChangeFeed | None:
            row = conn.execute(floor_query).one_or_none()
            generation, floor = (0, 0) if row is None else (int(row.generation), int(row.feed_floor))
            if since < floor or since > generation:
                return None
            if since == generation:
                return ChangeFeed(scope, since, generation)
            rows = conn.execute(feed_query).all()
            found = tuple(Change(int(r.generation), r.kind, r.key, None if r.data is None else json.loads(r.data)) for r in rows)
            return ChangeFeed(scope, since, generation, found)

        return self._idempotent("read", read)

    def append_audit(self, events: Sequence[Mapping[str, Any]]) -> None:
        """An event whose ``eventID`` is already stored is replaced: the writer completes
        the events committed with their change, and may safely write again a batch whose
        commit it is unsure of. An empty batch commits an empty write transaction (the
        writer's probe of whether the trail can be written)."""
        rows = [_audit_row(event) for event in events]
        # The trail's one hot write: straight to the driver's executemany (SQLAlchemy's
        # per-row parameter processing cost more than the insert itself). An upsert:
        # safe to run again when the connection was lost.
        upsert = self._audit_upsert
        self._idempotent("write", lambda conn: conn.exec_driver_sql(upsert, rows) if rows else None)

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
        """Both time bounds are inclusive, at one-second resolution (CloudTrail's). Pages
        of ``AUDIT_PAGE`` events, each read in its own short transaction and resumed after
        the last (eventTime, seq) seen: nothing holds more than a page, and no
        transaction stays open while the caller consumes the events. Bad bounds or
        outcome raise ``ValueError`` at once, not on first iteration."""
        conditions = _audit_conditions(principal, event_name, start, end, errors_only)
        conditions.extend(_outcome_conditions(outcome))
        return self._audit_pages(conditions, limit)

    def _audit_pages(self, conditions: list[ColumnElement[bool]], limit: int | None) -> Iterator[Mapping[str, Any]]:
        columns = audit_events.c
        remaining = None if limit is None else max(limit, 0)
        after: tuple[str, int] | None = None
        while remaining is None or remaining > 0:
            page = AUDIT_PAGE if remaining is None else min(AUDIT_PAGE, remaining)
            keyset = (
                [] if after is None else [or_(columns.event_time > after[0], and_(columns.event_time == after[0], columns.seq > after[1]))]
            )
            query = (
                select(columns.event_time, columns.seq, columns.body)
                .where(*conditions, *keyset)
                .order_by(columns.event_time, columns.seq)
                .limit(page)
            )
            rows = self._idempotent("read", _all_rows(query))
            for _time, _seq, body in rows:
                yield orjson.loads(body)
            if len(rows) < page:
                return
            after = (rows[-1][0], rows[-1][1])
            if remaining is not None:
                remaining -= len(rows)

    def lookup_audit(self, query: AuditLookup) -> list[tuple[AuditPosition, Mapping[str, Any]]]:
        columns = audit_events.c
        conditions = _audit_conditions(None, query.event_name, query.start, query.end, False)
        if not re.fullmatch(r"[0-9]{12}", query.account):
            raise ValueError(f"not an account id: {query.account!r}")
        # INVARIANT: twelve digits, no LIKE metacharacter
        # a prefilter only (the reader keeps events of the account's recipientAccountId).
        # An event with no ARN (an operator's change, a sign-in naming no user) is the
        # account's by its body's recipientAccountId (the store's compact JSON), so the
        # refusals of requests no account signed (recipientAccountId "") stay out
        recipient = f'%"recipientAccountId":"{query.account}"%'
        conditions.append(
            or_(
                columns.principal_arn.like(f"arn:%:%::{query.account}:%"),
                columns.principal_arn.not_like("arn:%"),
                and_(columns.principal_arn.is_(None), columns.body.like(recipient)),
            )
        )
        if query.event_id is not None:
            conditions.append(columns.event_id == query.event_id)
        if query.access_key_id is not None:
            conditions.append(columns.access_key_id == query.access_key_id)
        if query.before is not None:
            # ``<=`` first, so that the planner searches the time index (the OR alone made
            # SQLite scan it whole: 7.4 ms a page of 100 over 20 000 events, 2.1 ms so)
            time, seq = query.before
            conditions.extend([columns.event_time <= time, or_(columns.event_time < time, columns.seq < seq)])
        statement = (
            select(columns.event_time, columns.seq, columns.body)
            .where(*conditions)
            .order_by(columns.event_time.desc(), columns.seq.desc())
            .limit(max(query.limit, 0))
        )
        rows = self._idempotent("read", _all_rows(statement))
        return [((str(time), int(seq)), orjson.loads(body)) for time, seq, body in rows]

    def delete_audit_before(self, before: str, limit: int) -> int:
        columns = audit_events.c
        oldest = select(columns.seq).where(columns.event_time < _utc_second(before)).order_by(columns.event_time, columns.seq).limit(limit)
        with _backend_errors("write"), self._transaction(write=True) as conn:
            return int(conn.execute(delete(audit_events).where(columns.seq.in_(oldest.scalar_subquery()))).rowcount)

    def claim(self, kind: str, key: str, until: _dt.datetime, now: _dt.datetime) -> bool:
        """One write transaction: the key's own expired claim deleted, the claim inserted
        unless a row holds its key, then a batch of the kind's other expired claims purged
        (``_purge``: never waiting on a row another transaction holds). Concurrent claims
        of one key meet at the primary key (PostgreSQL makes the second insert wait for
        the first's commit, SQLite runs write transactions one at a time), so exactly one
        succeeds. Not run again on a lost connection: a claim whose commit is unknown
        might be this caller's own, and is answered as an outage (the caller refuses).

        A claim is deleted only ``CLAIM_GRACE`` after its ``until``, by whichever
        process's clock: one whose clock runs ahead (by less than that) cannot free a
        claim that another, on time, still honours. Until then the key stays held."""
        _check_key(key)
        columns = claims.c
        held, at = _claim_time(until), _claim_time(now - CLAIM_GRACE)
        expired = delete(claims).where(columns.kind == kind, columns.key == key, columns.until <= at)
        insert = (
            self._insert(claims)
            .values(kind=kind, key=key, until=held)
            .on_conflict_do_nothing(index_elements=["kind", "key"])
            .returning(columns.key)
        )
        with _backend_errors("write"), self._transaction(write=True) as conn:
            conn.execute(expired)
            claimed = conn.execute(insert).first() is not None
            conn.execute(_purge(claims, kind, key, at))
            return claimed

    def read_budgets(self, kind: str, keys: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        if not keys:
            return {}
        query = select(budgets.c.key, budgets.c.data).where(budgets.c.kind == kind, budgets.c.key.in_(sorted(set(keys))))
        rows = self._idempotent("read", _all_rows(query))
        return {str(key): json.loads(data) for key, data in rows}

    def update_budget(self, kind: str, key: str, change: BudgetChange, now: _dt.datetime) -> Mapping[str, Any] | None:
        """The row is created empty if missing, or locked as it is, and read, in one
        upsert (``ON CONFLICT DO UPDATE … RETURNING``; SQLite runs one write transaction
        at a time), so concurrent changes of one key from any process apply one after the
        other. Not run again on a lost connection (a failure counted twice would lock
        out early): the caller sees an outage."""
        _check_key(key)
        columns = budgets.c
        this = (columns.kind == kind, columns.key == key)
        # one statement that creates the row or locks it as it is, and reads it: a purge
        # deleting the row meanwhile is waited for, then the row is created afresh (an
        # insert that found the row and took no lock could see it deleted before reading)
        statement = self._insert(budgets).values(kind=kind, key=key, data="", until="")
        lock = statement.on_conflict_do_update(index_elements=["kind", "key"], set_={"data": columns.data}).returning(columns.data)
        with _backend_errors("write"), self._transaction(write=True) as conn:
            stored = conn.execute(lock).scalar_one()
            changed = change(json.loads(stored) if stored else None)
            if changed is None:
                conn.execute(delete(budgets).where(*this))
            else:
                conn.execute(update(budgets).where(*this).values(data=_dump(changed[0]), until=_claim_time(changed[1])))
            conn.execute(_purge(budgets, kind, key, _claim_time(now - CLAIM_GRACE)))
            return None if changed is None else changed[0]

    def put_usage(self, entries: Sequence[tuple[str, str, str, Mapping[str, Any]]]) -> None:
        rows = [{"scope": scope, "kind": kind, "key": key, "data": _dump(data)} for scope, kind, key, data in entries]
        if not rows:
            return
        statement = self._insert(usage)
        upsert = statement.on_conflict_do_update(index_elements=["scope", "kind", "key"], set_={"data": statement.excluded.data})
        self._idempotent("write", lambda conn: conn.execute(upsert, rows))

    def get_usage(self, scope: str, kind: str, key: str) -> Mapping[str, Any] | None:
        query = select(usage.c.data).where(usage.c.scope == scope, usage.c.kind == kind, usage.c.key == key)
        text = self._idempotent("read", lambda conn: conn.execute(query).scalar_one_or_none())
        return None if text is None else dict(json.loads(text))

    def list_usage(self, scope: str, kind: str) -> dict[str, Mapping[str, Any]]:
        query = select(usage.c.key, usage.c.data).where(usage.c.scope == scope, usage.c.kind == kind)
        rows = self._idempotent("read", _all_rows(query))
        return {str(key): dict(json.loads(text)) for key, text in rows}

    def close(self) -> None:
        self._engine.dispose()

    def _idempotent(self, operation: str, work: Callable[[Connection], _T]) -> _T:
        """Run ``work`` — statements that may safely run twice: reads, upserts — in one
        transaction (a write one when ``operation`` is ``write``); when the pooled
        connection turns out to be lost, once more on a fresh one. The pool's ping at
        checkout does not rule that out: ``pg_terminate_backend`` and a restarting
        server end a connection asynchronously, between the ping and its first
        statement. The pool drops the lost connections before the second attempt.

        ``write()`` is not retried so: its block is the caller's code, and a commit whose
        fate is unknown is answered 503 (nothing half-saved) for the client to retry."""
        write = operation == "write"
        with _backend_errors(operation):
            try:
                with self._transaction(write=write) as conn:
                    return work(conn)
            except DBAPIError as lost:
                # a read-only database also drops the connection (_read_only_is_disconnect),
                # but a new one would be refused alike: that is an outage, not a lost connection
                if not lost.connection_invalidated or _storage_refusal(lost.orig) is not None:
                    raise
                log.warning("database connection lost (%s); running the %s again on a new connection", type(lost.orig).__name__, operation)
            with self._transaction(write=write) as conn:
                return work(conn)

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Connection]:
        if write and getattr(self._local, "writing", False):
            # a second write transaction from a thread inside write() — another write(), a
            # claim, a budget, the audit trail — would wait for the first's lock (SQLite's
            # database lock, PostgreSQL's row locks) until a timeout: refuse at once
            raise StoreError("write() blocks cannot nest, nor hold another write: lock every scope in one write(), write the rest after it")
        with self._engine.connect() as conn:
            conn.execution_options(**self._transaction_options(write))
            with conn.begin():
                yield conn

    def _transaction_options(self, write: bool) -> dict[str, Any]:
        if not self._postgres:
            return {_SQLITE_BEGIN: "IMMEDIATE" if write else "DEFERRED"}
        if write:
            return {"isolation_level": "READ COMMITTED"}
        return {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}

    @contextmanager
    def _single_writer(self) -> Iterator[None]:
        """Mark the thread as inside ``write()`` while its block runs: ``_transaction``
        then refuses to open another write transaction from it."""
        self._local.writing = True
        try:
            yield
        finally:
            self._local.writing = False

    def _lock_scopes(self, conn: Connection, names: list[str]) -> None:
        rows = [{"scope": name, "generation": 0} for name in names]
        insert = self._insert(scopes_table).values(rows)
        conn.execute(insert.on_conflict_do_nothing(index_elements=["scope"]))
        if self._postgres:
            conn.execute(
                select(scopes_table.c.scope).where(scopes_table.c.scope.in_(names)).order_by(scopes_table.c.scope).with_for_update()
            ).all()

    @staticmethod
    def _commit_changes(conn: Connection, names: list[str], feed: list[dict[str, str | None]]) -> None:
        """Bump each locked scope's generation, record ``feed`` under the new ones, and
        trim the feeds of the scopes whose turn it is."""
        bump = (
            update(scopes_table)
            .where(scopes_table.c.scope.in_(names))
            .values(generation=scopes_table.c.generation + 1)
            .returning(scopes_table.c.scope, scopes_table.c.generation)
        )
        generations: dict[str, int] = {scope: int(generation) for scope, generation in conn.execute(bump).tuples()}
        if feed:
            conn.execute(changes_table.insert(), [{**row, "generation": generations[str(row["scope"])]} for row in feed])
        for scope, generation in generations.items():
            if generation % TRIM_EVERY or generation <= FEED_GENERATIONS:
                continue
            floor = generation - FEED_GENERATIONS
            conn.execute(delete(changes_table).where(changes_table.c.scope == scope, changes_table.c.generation <= floor))
            conn.execute(
                update(scopes_table).where(scopes_table.c.scope == scope, scopes_table.c.feed_floor < floor).values(feed_floor=floor)
            )


def _backend_errors_wrapped(method: Callable[_P, _T]) -> Callable[_P, _T]:
    @functools.wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        with _backend_errors():
            return method(*args, **kwargs)

    return wrapper


class _SqlTransaction:
    """One open transaction; ``scopes`` is the set it may touch (``None``: reads of
    any scope, no writes)."""

    def __init__(
        self,
        conn: Connection,
        insert: _Insert,
        clock: Clock,
        scopes: frozenset[str] | None,
        audit_insert: str,
    ) -> None:
        self._conn = conn
        self._insert = insert
        self._clock = clock
        self._scopes = scopes
        self._audit_insert = audit_insert
        self._open = True
        self.feed: list[dict[str, str | None]] = []  # what this transaction wrote, in order

    def close(self) -> None:
        self._open = False

    @_backend_errors_wrapped
    def get(self, scope: str, kind: str, key: str) -> Record | None:
        self._check(scope, writing=False)
        query = select(records.c.scope, records.c.kind, records.c.key, records.c.data).where(_record_key(scope, kind, key))
        row = self._conn.execute(query).one_or_none()
        return None if row is None else _record(row)

    @_backend_errors_wrapped
    def list(self, scope: str, kind: str) -> list[Record]:
        self._check(scope, writing=False)
        query = (
            select(records.c.scope, records.c.kind, records.c.key, records.c.data)
            .where(records.c.scope == scope, records.c.kind == kind)
            .order_by(records.c.key)
        )
        return [_record(row) for row in self._conn.execute(query)]

    @_backend_errors_wrapped
    def count(self, scope: str, kind: str) -> int:
        self._check(scope, writing=False)
        query = select(func.count()).select_from(records).where(records.c.scope == scope, records.c.kind == kind)
        return int(self._conn.execute(query).scalar_one())

    @_backend_errors_wrapped
    def list_by(self, scope: str, kind: str, field: str, value: str) -> builtins.list[Record]:
        self._check(scope, writing=False)
        query = (
            select(records.c.scope, records.c.kind, records.c.key, records.c.data)
            .join(
                record_refs,
                and_(records.c.scope == record_refs.c.scope, records.c.kind == record_refs.c.kind, records.c.key == record_refs.c.key),
            )
            .where(*_refs_matching(scope, kind, field, value))
            .order_by(record_refs.c.key)
        )
        return [_record(row) for row in self._conn.execute(query)]

    @_backend_errors_wrapped
    def count_by(self, scope: str, kind: str, field: str, value: str) -> int:
        self._check(scope, writing=False)
        query = select(func.count()).select_from(record_refs).where(*_refs_matching(scope, kind, field, value))
        return int(self._conn.execute(query).scalar_one())

    @_backend_errors_wrapped
    def insert(self, scope: str, kind: str, key: str, data: Mapping[str, Any]) -> None:
        self._check(scope, writing=True)
        row = self._row(scope, kind, key, data)
        statement = (
            self._insert(records)
            .values(row)
            .on_conflict_do_nothing(index_elements=["scope", "kind", "key"])
            .returning(records.c.key)  # a row comes back only if one was inserted
        )
        if self._conn.execute(statement).first() is None:
            raise Conflict(f"{kind} {key!r} already exists in scope {scope!r}")
        self._index(scope, kind, key, data, replacing=False)
        self._record_change(row)

    @_backend_errors_wrapped
    def update(self, scope: str, kind: str, key: str, data: Mapping[str, Any]) -> None:
        self._check(scope, writing=True)
        row = self._row(scope, kind, key, data)
        statement = update(records).where(_record_key(scope, kind, key)).values(data=row["data"], updated_at=row["updated_at"])
        if self._conn.execute(statement).rowcount == 0:
            raise NotFound(f"{kind} {key!r} does not exist in scope {scope!r}")
        self._index(scope, kind, key, data, replacing=True)
        self._record_change(row)

    @_backend_errors_wrapped
    def put(self, scope: str, kind: str, key: str, data: Mapping[str, Any]) -> None:
        self._check(scope, writing=True)
        row = self._row(scope, kind, key, data)
        statement = self._insert(records).values(row)
        self._conn.execute(
            statement.on_conflict_do_update(
                index_elements=["scope", "kind", "key"],
                set_={"data": statement.excluded.data, "updated_at": statement.excluded.updated_at},
            )
        )
        self._index(scope, kind, key, data, replacing=True)
        self._record_change(row)

    @_backend_errors_wrapped
    def delete(self, scope: str, kind: str, key: str) -> None:
        self._check(scope, writing=True)
        if self._conn.execute(delete(records).where(_record_key(scope, kind, key))).rowcount == 0:
            raise NotFound(f"{kind} {key!r} does not exist in scope {scope!r}")
        self._index(scope, kind, key, {}, replacing=True)
        self.feed.append({"scope": scope, "kind": kind, "key": key, "data": None})

    def _index(self, scope: str, kind: str, key: str, data: Mapping[str, Any], *, replacing: bool) -> None:
        """Make the record's ``record_refs`` rows those of ``data``."""
        if replacing:
            owned = and_(record_refs.c.scope == scope, record_refs.c.kind == kind, record_refs.c.key == key)
            self._conn.execute(delete(record_refs).where(owned))
        refs = indexed_values(data)
        if refs:
            rows = [{"scope": scope, "kind": kind, "field": field, "value": value, "key": key} for field, value in refs]
            self._conn.execute(record_refs.insert(), rows)

    def _record_change(self, row: Mapping[str, str]) -> None:
        self.feed.append({"scope": row["scope"], "kind": row["kind"], "key": row["key"], "data": row["data"]})

    @_backend_errors_wrapped
    def append_audit(self, events: Sequence[Mapping[str, Any]]) -> None:
        if not self._open:
            raise StoreError("transaction used after its block ended")
        if self._scopes is None:
            raise StoreError("read() transactions cannot write: use write(scope)")
        rows = [_audit_row(event) for event in events]
        if rows:
            self._conn.exec_driver_sql(self._audit_insert, rows)

    def _check(self, scope: str, *, writing: bool) -> None:
        if not self._open:
            raise StoreError("transaction used after its block ended")
        if self._scopes is None:
            if writing:
                raise StoreError("read() transactions cannot write: use write(scope)")
        elif scope not in self._scopes:
            raise StoreError(f"scope {scope!r} is not locked by this write(): name it in write()")

    def _row(self, scope: str, kind: str, key: str, data: Mapping[str, Any]) -> dict[str, str]:
        return {
            "scope": scope,
            "kind": kind,
            "key": key,
            "data": _dump(data),
            "updated_at": self._clock.now().astimezone(_dt.UTC).isoformat(),
        }


CLAIM_KEY_MAX = 512
CLAIM_GRACE = _dt.timedelta(minutes=5)
"""How long past its ``until`` a claim is kept: the clock difference between processes
and nodes that cannot free a claim early (SAML's own clock allowance, again)."""


def _check_key(key: str) -> None:
    """A claim's or a budget's key: short enough for an index entry, and no NUL (which
    PostgreSQL's text refuses)."""
    if len(key) > CLAIM_KEY_MAX or "\0" in key:
        raise ValueError(f"a key is at most {CLAIM_KEY_MAX} characters, none of them NUL")


PURGE_BATCH = 100


def _purge(table: Table, kind: str, key: str, before: str) -> Delete:
    """Delete up to ``PURGE_BATCH`` rows of ``kind`` other than ``key`` whose ``until`` is
    at or before ``before``, skipping rows another transaction holds (PostgreSQL's
    ``SKIP LOCKED``; SQLite has one writer at a time): a purge never waits, so two
    transactions purging each other's rows cannot deadlock."""
    columns = table.c
    idle = (
        select(columns.key)
        .where(columns.kind == kind, columns.key != key, columns.until <= before)
        .limit(PURGE_BATCH)
        .with_for_update(skip_locked=True)
    )
    return delete(table).where(columns.kind == kind, columns.key.in_(idle.scalar_subquery()))


def _claim_time(moment: _dt.datetime) -> str:
    """A claim's time as fixed-width UTC text (microseconds kept), so that text order
    is time order: ``until`` rounded down would free a claim before its time."""
    if moment.tzinfo is None:
        raise ValueError("a claim's times must be aware")
    return moment.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _all_rows(statement: Select[Any]) -> Callable[[Connection], Sequence[Row[Any]]]:
    """The work of reading every row ``statement`` selects, for ``SqlStore._idempotent``."""
    return lambda conn: conn.execute(statement).all()


# -- engine and migrations ---------------------------------------------------------


def _create_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError("the database URL cannot be parsed") from exc
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if backend == "postgresql":
        engine = create_engine(parsed, pool_pre_ping=True)
        event.listen(engine, "handle_error", _read_only_is_disconnect)
        event.listen(engine.pool, "checkin", _database_default_access_mode)
        return engine
    raise StoreError(f"unsupported database {parsed.drivername!r}: use sqlite or postgresql")


def _sqlite_engine(url: URL) -> Engine:
    path = url.database
    if not path or path == ":memory:" or url.query.get("mode") == "memory":
        raise StoreError("SQLite needs a database file: each connection would see its own memory")
    try:
        Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _private_database_file(path)
    except OSError as error:
        raise StoreError(f"cannot use the SQLite file {path!r}: {error.strerror or error}") from None
    engine = create_engine(url)
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin_sqlite)
    return engine


SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def _private_database_file(path: str) -> None:
    """Create the database file owner-only (0600) before SQLite opens it, whatever the
    directory's mode or the process umask: SQLite gives its ``-wal``, ``-shm`` and
    ``-journal`` files the database file's mode. Files an older version left readable
    by others are made private too."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(descriptor)
    for name in (path, *(path + suffix for suffix in SQLITE_COMPANIONS)):
        try:
            if os.stat(name).st_mode & 0o077:
                os.chmod(name, 0o600)
        except FileNotFoundError:
            continue


def _configure_sqlite(dbapi_connection: Any, _record: object) -> None:
    """Per connection. ``isolation_level = None`` stops the sqlite3 module from
    issuing its own BEGIN, so ``_begin_sqlite`` decides the transaction mode. The busy
    timeout goes first: switching to WAL needs a moment of exclusive access."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _begin_sqlite(conn: Connection) -> None:
    mode = conn.get_execution_options().get(_SQLITE_BEGIN, "DEFERRED")
    if mode not in ("DEFERRED", "IMMEDIATE"):
        raise StoreError(f"unknown SQLite transaction mode {mode!r}")
    conn.exec_driver_sql(f"BEGIN {mode}")


def _upgrade_schema(engine: Engine) -> None:
    """``alembic upgrade head`` in one transaction, with no ``alembic.ini``: the
    scripts are found next to this module, so an installed wheel migrates too."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS).replace("%", "%%"))
    postgres = engine.dialect.name == "postgresql"
    with _ALEMBIC_IN_PROCESS, _backend_errors(), engine.connect() as conn:
        if not postgres:
            conn.execution_options(**{_SQLITE_BEGIN: "IMMEDIATE"})
        with conn.begin():
            if postgres:
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(:lock_class, hashtext(current_schema()))"),
                    {"lock_class": _MIGRATION_LOCK_CLASS},
                )
            config.attributes["connection"] = conn
            command.upgrade(config, "head")


# -- rows and documents ------------------------------------------------------------


@contextmanager
def _backend_errors(operation: str = "") -> Iterator[None]:
    """Database failures leave the store as ``BackendError``. The message is the
    driver's first line (never the statement or its parameters), for the log; the
    ``operation`` (``read``/``write``, set by the outermost call) and ``reason``, a
    fixed phrase from the error's class, are what a client may be told."""
    try:
        yield
    except BackendError as exc:
        if operation and not exc.operation:
            exc.operation = operation
        raise
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        first_line = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        raise BackendError(f"database error: {first_line}", operation=operation, reason=_reason(exc)) from exc


def _reason(exc: SQLAlchemyError) -> str:
    """A fixed phrase for what kind of database failure ``exc`` is (nothing of its text)."""
    storage = _storage_refusal(getattr(exc, "orig", None))
    if storage is not None:
        return storage
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return "database connection lost"
    if isinstance(exc, (OperationalError, InterfaceError)):
        return "database unreachable or not answering"
    return "database error"


_SQLITE_FULL, _SQLITE_READONLY = 13, 8  # primary result codes (https://www.sqlite.org/rescode.html)
_PG_DISK_FULL, _PG_READ_ONLY = "53100", "25006"  # SQLSTATEs disk_full, read_only_sql_transaction
# (https://www.postgresql.org/docs/current/errcodes-appendix.html)


def _storage_refusal(driver_error: object) -> str | None:
    """The phrase for a database that refuses writes because of its storage (full, or
    read-only), from the driver's error code; None for any other error."""
    code = getattr(driver_error, "sqlite_errorcode", None)
    if isinstance(code, int):
        primary = code & 0xFF  # extended codes keep the primary code in their low byte
        if primary == _SQLITE_FULL:
            return "database storage full"
        if primary == _SQLITE_READONLY:
            return "database is read-only"
        return None
    state = getattr(driver_error, "sqlstate", None)
    if state == _PG_DISK_FULL:
        return "database storage full"
    if state == _PG_READ_ONLY:
        return "database is read-only"
    return None


def _read_only_is_disconnect(context: ExceptionContext) -> None:
    """A PostgreSQL connection that answers ``read_only_sql_transaction`` is dropped
    from the pool, as a lost one is: ``default_transaction_read_only`` (set on a
    database, a role, or by a server turned into a standby) is read when a session
    starts, so a connection opened while writes were refused would go on refusing
    them after the database takes writes again; a new one reads the setting again."""
    if getattr(context.original_exception, "sqlstate", None) == _PG_READ_ONLY:
        context.is_disconnect = True


def _database_default_access_mode(dbapi_connection: Any, _record: object) -> None:
    """A connection back in the pool begins its next transaction in the database's own
    default access mode. Reads run READ ONLY, and SQLAlchemy's reset afterwards sets
    psycopg's ``read_only`` to False, which makes every later transaction on that
    connection begin ``READ WRITE`` explicitly: writes would then go through on a
    database whose ``default_transaction_read_only`` is on, or not, depending on
    whether their connection had served a read before. ``None`` is psycopg's "say
    nothing": the server's default decides."""
    if dbapi_connection is not None and getattr(dbapi_connection, "read_only", None) is not None:
        dbapi_connection.read_only = None


def _scope_names(scopes: tuple[str, ...]) -> list[str]:
    if not scopes:
        raise StoreError("write() needs at least one scope")
    for scope in scopes:
        if not isinstance(scope, str) or not scope:
            raise StoreError(f"invalid scope {scope!r}")
    return sorted(set(scopes))


def indexed_values(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The ``(field, value)`` pairs ``record_refs`` holds for a record's ``data``."""
    found: set[tuple[str, str]] = set()
    for field in INDEXED_FIELDS:
        value = data.get(field)
        if isinstance(value, str):
            found.add((field, value))
        elif isinstance(value, list):
            found.update((field, item) for item in value if isinstance(item, str))
    return sorted(found)


def _refs_matching(scope: str, kind: str, field: str, value: str) -> tuple[ColumnElement[bool], ...]:
    if field not in INDEXED_FIELDS:
        raise StoreError(f"{field!r} is not an indexed field: one of {', '.join(INDEXED_FIELDS)}")
    columns = record_refs.c
    return (columns.scope == scope, columns.kind == kind, columns.field == field, columns.value == value)


def _record_key(scope: str, kind: str, key: str) -> ColumnElement[bool]:
    return and_(records.c.scope == scope, records.c.kind == kind, records.c.key == key)


def _record(row: Row[Any]) -> Record:
    return Record(row.scope, row.kind, row.key, json.loads(row.data))


def _dump(document: Mapping[str, Any]) -> str:
    return json.dumps(dict(document), separators=(",", ":"), sort_keys=True, allow_nan=False)


_UTC_SECOND = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
# The last string ``_utc_second`` matched (one entry; a str is immutable, so a string
# that *is* it is in that form too).
_last_utc_second: list[str] = ["1970-01-01T00:00:00Z"]


def _utc_second(moment: str) -> str:
    """An ISO-8601 time as ``YYYY-MM-DDTHH:MM:SSZ`` in UTC (naive means UTC), so that
    stored times and query bounds compare correctly as text."""
    if moment is _last_utc_second[0]:
        return moment  # the very string found in that form last time (see below)
    if isinstance(moment, str) and _UTC_SECOND.fullmatch(moment):
        # already in that form: the audit trail's own events always are, and the events
        # of one second share one string (``clock.iso_seconds`` keeps it), so the next
        # event of a batch is known by identity, without the match (~2 500 instructions)
        _last_utc_second[0] = moment
        return moment
    try:
        parsed = _dt.datetime.fromisoformat(moment)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not an ISO-8601 time: {moment!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_dt.UTC)
    return iso_seconds(parsed)


AUDIT_PAGE = 500
"""Events read per query by ``query_audit`` (a page is its only memory)."""
_AUDIT_COLUMNS = ("event_id", "event_time", "principal_arn", "access_key_id", "event_name", "error_code", "body")


_INDEXED_PRINCIPAL_ID = 1024  # far below PostgreSQL's B-tree entry limit (about 2700 bytes)


def _audit_row(event: Mapping[str, Any]) -> tuple[str | None, ...]:
    """The values of ``_AUDIT_COLUMNS`` for one event."""
    # one bound ``get`` for every field: the writer's events are a dict subclass
    # (``audit.events.EncodedEvent``), whose ``get`` and ``[]`` each cost a method lookup;
    # with ``_utc_second``'s last string, ~16 800 instructions a row became ~8 700
    # (callgrind, CPython 3.11, a GetCallerIdentity event)
    get = event.get
    event_id, event_time, event_name = get("eventID"), get("eventTime"), get("eventName")
    if not (event_id and event_time and event_name):
        missing = [field for field in ("eventID", "eventTime", "eventName") if not get(field)]
        raise ValueError(f"audit event lacks {', '.join(missing)}")
    identity = get("userIdentity") or {}
    # federated callers (WebIdentityUser, SAMLUser) have no ARN and no key: they are found
    # by their identity provider (the OIDC provider's ARN, the SAML name qualifier) and
    # their principalId (when short enough for an index entry)
    principal_id = identity.get("principalId")
    fallback_id = principal_id if isinstance(principal_id, str) and len(principal_id) <= _INDEXED_PRINCIPAL_ID else None
    return (
        str(event_id),
        _utc_second(event_time),
        identity.get("arn") or identity.get("identityProvider"),
        identity.get("accessKeyId") or fallback_id,
        str(event_name),
        get("errorCode"),
        # insertion order, not sorted: events are written once per request and read rarely
        # an event the audit writer encoded already carries its JSON (audit.events.EncodedEvent)
        _event_json(event).decode("utf-8"),
    )


def _event_json(event: Mapping[str, Any]) -> bytes:
    encoded = getattr(event, "json", None)
    return encoded if isinstance(encoded, bytes) else orjson.dumps(event)


def _audit_conditions(
    principal: str | None,
    event_name: str | None,
    start: str | None,
    end: str | None,
    errors_only: bool,
) -> list[ColumnElement[bool]]:
    columns = audit_events.c
    conditions: list[ColumnElement[bool]] = []
    if principal is not None:
        by_arn, by_key = columns.principal_arn == principal, columns.access_key_id == principal
        conditions.append(or_(by_arn, by_key))
    if event_name is not None:
        conditions.append(columns.event_name == event_name)
    if start is not None:
        conditions.append(columns.event_time >= _utc_second(start))
    if end is not None:
        conditions.append(columns.event_time <= _utc_second(end))
    if errors_only:
        conditions.append(columns.error_code.is_not(None))
    return conditions


def _outcome_conditions(outcome: str | None) -> list[ColumnElement[bool]]:
    """``success``: no error code; ``denied``: refused by policy; ``error``: any other error."""
    code = audit_events.c.error_code
    if outcome is None:
        return []
    if outcome == "success":
        return [code.is_(None)]
    if outcome == "denied":
        return [code.in_(DENIED_ERROR_CODES)]
    if outcome == "error":
        return [code.is_not(None), code.not_in(DENIED_ERROR_CODES)]
    raise ValueError(f"unknown outcome {outcome!r}: expected one of {', '.join(AUDIT_OUTCOMES)}")

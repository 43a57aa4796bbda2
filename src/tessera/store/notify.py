"""Hearing at once that another process committed a write, instead of at the next poll.

Every server process keeps an in-memory view of the store and rebuilds a scope when
its generation moves (``services/view.py``). Polling the generations is what keeps
that view correct; a *change watcher* only makes it prompt, by calling ``on_change``
as soon as another process may have committed:

* **PostgreSQL**: every write transaction that bumps generations sends ``NOTIFY`` on
  the schema's channel (``announce``), with ``scope=generation`` pairs as payload;
  PostgreSQL delivers it when the transaction commits, never for one rolled back
  (https://www.postgresql.org/docs/current/sql-notify.html). ``PostgresListener``
  holds one dedicated ``LISTEN`` connection in a thread. Notifications sent while it
  is disconnected are lost, so it reconnects with backoff and, once listening again,
  calls ``on_change(None)`` ("something may have moved: poll now").
* **SQLite**: processes on one database file share no channel, so ``SqliteProbe``
  reads ``PRAGMA data_version`` on a connection of its own every few milliseconds; the
  value changes when any other connection has committed
  (https://www.sqlite.org/pragma.html#pragma_data_version). Reading it touches no
  table and takes no lock: ~3 µs per check, plus the thread's wake-up.

``on_change`` runs in the watcher's thread and must only hand the news on (the server
wakes its refresher, which polls off the event loop).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from tessera.store.tables import scopes as scopes_table

__all__ = ["PostgresListener", "SqliteProbe", "announce", "change_watcher", "parse_payload"]

log = logging.getLogger("tessera.store.notify")

#: The channel of the schema the connection works in (its ``search_path``), so servers
#: sharing one database in different schemas (the test suite) do not wake each other.
#: Channel names are identifiers of at most 63 bytes: "tessera_" and 32 hex digits.
_CHANNEL = "'tessera_' || md5(current_schema())"
#: NOTIFY payloads must be shorter than 8000 bytes; a longer list is sent empty,
#: which listeners read as "poll every scope". Scopes are ASCII (account ids, "global").
MAX_PAYLOAD = 7999
#: One round trip: the pairs of the scopes just bumped, read back in the transaction.
_ANNOUNCE = text(
    f"SELECT pg_notify({_CHANNEL}, CASE WHEN length(pairs) <= {MAX_PAYLOAD} THEN pairs ELSE '' END) "
    "FROM (SELECT string_agg(scope || '=' || generation, ',' ORDER BY scope) AS pairs "
    f"FROM {scopes_table.name} WHERE scope = ANY(:scopes)) AS moved"
)
#: Application name of the listening connection (``pg_stat_activity.application_name``),
#: followed by the server process's id.
LISTENER_NAME = "tessera-listener"

OnChange = Callable[[Mapping[str, int] | None], None]
"""Called with the ``scope → generation`` pairs just committed, or ``None`` when
anything may have moved."""


class ChangeWatcher(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


def announce(conn: Connection, scopes: Sequence[str]) -> None:
    """Queue the notice of ``scopes``' generations in the open write transaction, after
    their bump (PostgreSQL sends it on commit)."""
    conn.execute(_ANNOUNCE, {"scopes": list(scopes)})


def parse_payload(payload: str) -> dict[str, int] | None:
    """The pairs ``announce`` sent; ``None`` when they are not all there."""
    pairs: dict[str, int] = {}
    for item in payload.split(","):
        scope, _, generation = item.rpartition("=")
        if not scope or not generation.isdigit():
            return None
        pairs[scope] = int(generation)
    return pairs


def change_watcher(url: str, on_change: OnChange, *, sqlite_interval: float) -> ChangeWatcher:
    """The watcher for the database at SQLAlchemy ``url``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        return PostgresListener(conninfo, on_change)
    return SqliteProbe(parsed.database or "", on_change, interval=sqlite_interval)


class PostgresListener:
    """One ``LISTEN`` connection in a daemon thread, reconnecting with backoff."""

    def __init__(
        self,
        conninfo: str,
        on_change: OnChange,
        *,
        first_backoff: float = 0.1,
        max_backoff: float = 5.0,
        wake_interval: float = 0.5,
    ) -> None:
        self._conninfo = conninfo
        self._on_change = on_change
        self._first_backoff = first_backoff
        self._max_backoff = max_backoff
        self._wake_interval = wake_interval  # how soon stop() is noticed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tessera-listen", daemon=True)
        self.connected = threading.Event()  # set while listening (for tests and readiness)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self._wake_interval + 5.0)

    def _run(self) -> None:
        backoff = self._first_backoff
        while not self._stop.is_set():
            try:
                self._listen()
                backoff = self._first_backoff
            except Exception as exc:  # the connection failed or dropped: polling covers the gap
                if self.connected.is_set() or backoff == self._first_backoff:
                    log.warning("listening for changes by other nodes failed (%s); retrying, polling meanwhile", type(exc).__name__)
                if self.connected.is_set():
                    backoff = self._first_backoff
                self.connected.clear()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self._max_backoff)

    def _listen(self) -> None:
        import psycopg

        with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5, application_name=f"{LISTENER_NAME} {os.getpid()}") as conn:
            channel = conn.execute(f"SELECT {_CHANNEL}").fetchone()
            assert channel is not None  # INVARIANT: a SELECT of one expression returns one row
            conn.execute(f'LISTEN "{channel[0]}"')  # an identifier of hex digits: nothing to escape
            self.connected.set()
            self._on_change(None)  # what was sent while nobody listened is lost: catch up
            while not self._stop.is_set():
                for notice in conn.notifies(timeout=self._wake_interval):
                    self._on_change(parse_payload(notice.payload))
                    if self._stop.is_set():
                        break
        self.connected.clear()


class SqliteProbe:
    """``PRAGMA data_version`` every ``interval`` seconds, in a daemon thread; every
    commit made by another connection after ``start()`` returns is noticed."""

    def __init__(self, path: str, on_change: OnChange, *, interval: float) -> None:
        self._path = path
        self._on_change = on_change
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tessera-probe", daemon=True)
        self._connection: sqlite3.Connection | None = None
        self._seen: int | None = None
        self._lost = False  # the connection failed since the last good check

    def start(self) -> None:
        self._check()  # the version to compare with, read before start() returns
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self._interval + 5.0)
        if self._connection is not None:
            self._connection.close()

    def _run(self) -> None:
        # time.sleep, not Event.wait: a timed wait costs ~80 µs of CPU per wake-up here
        # against ~45 µs for a sleep, and the wake-ups are nearly all the probe costs
        # (the PRAGMA itself ~3 µs); stop() is noticed within one interval.
        while True:
            time.sleep(self._interval)
            if self._stop.is_set():
                return
            if self._check():
                self._on_change(None)

    def _check(self) -> bool:
        """Whether another connection committed since the last check."""
        try:
            if self._connection is None:
                self._connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            version = int(self._connection.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error as exc:  # polling still keeps the view correct
            log.warning("checking the database for changes failed (%s)", exc)
            self._connection, self._lost = None, True
            return False
        # a new connection counts versions of its own: after a failure, catch up once
        changed = self._lost or (self._seen is not None and version != self._seen)
        self._seen, self._lost = version, False
        return changed

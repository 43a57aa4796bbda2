"""Change notices between processes sharing a store (``tessera.store.notify``), against
the real databases: PostgreSQL NOTIFY sent by write transactions and heard by a
``PostgresListener``; SQLite commits seen by a ``SqliteProbe``.

Waits are bounded (``HEARD``) and only ever cut short by the notice arriving: a
correctness bound, no timing assertion."""

from __future__ import annotations

import queue
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tessera.store.notify import change_watcher, parse_payload
from tessera.store.sql import SqlStore, default_url, open_store

HEARD = 10.0  # seconds a notice may take to arrive before the test fails
Notices = queue.Queue[Mapping[str, int] | None]


@pytest.mark.parametrize(
    ("payload", "parsed"),
    [
        ("111122223333=4", {"111122223333": 4}),
        ("111122223333=4,global=17", {"111122223333": 4, "global": 17}),
        ("", None),
        ("global", None),
        ("global=x", None),
        ("global=-1", None),
    ],
    ids=["one", "two", "empty", "no-generation", "not-a-number", "negative"],
)
def test_parse_payload_reads_announced_pairs_or_says_unknown(payload: str, parsed: dict[str, int] | None) -> None:
    assert parse_payload(payload) == parsed


def watching(url: str, **kwargs: float) -> Iterator[tuple[SqlStore, Notices]]:
    notices: Notices = queue.Queue()
    store = open_store(url)
    watcher = change_watcher(url, notices.put, sqlite_interval=kwargs.get("interval", 0.01))
    watcher.start()
    try:
        yield store, notices
    finally:
        watcher.stop()
        store.close()


@pytest.fixture
def postgres(pg_url: str) -> Iterator[tuple[SqlStore, Notices]]:
    yield from watching(pg_url)


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[tuple[SqlStore, Notices]]:
    yield from watching(default_url(str(tmp_path)))


@pytest.mark.postgres
def test_a_commit_is_announced_with_its_generations_and_a_rollback_is_not(postgres: tuple[SqlStore, Notices]) -> None:
    store, notices = postgres
    assert notices.get(timeout=HEARD) is None  # listening: catch up on whatever was missed

    def rolled_back() -> None:
        with store.write("111122223333") as tx:
            tx.put("111122223333", "user", "gone", {"name": "gone"})
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        rolled_back()
    with store.write("111122223333", "global") as tx:
        tx.put("111122223333", "user", "kept", {"name": "kept"})
    generations = store.generations()
    assert notices.get(timeout=HEARD) == {"111122223333": generations["111122223333"], "global": generations["global"]}
    assert notices.empty()


@pytest.mark.postgres
def test_too_many_scopes_for_one_notice_are_announced_as_unknown(postgres: tuple[SqlStore, Notices]) -> None:
    store, notices = postgres
    assert notices.get(timeout=HEARD) is None
    scopes = [f"{n:012d}" for n in range(600)]  # 600 pairs of 14+ bytes: over NOTIFY's 8000
    with store.write(*scopes):
        pass
    assert notices.get(timeout=HEARD) is None


def test_a_commit_by_another_connection_wakes_the_sqlite_probe(sqlite: tuple[SqlStore, Notices], tmp_path: Path) -> None:
    _store, notices = sqlite
    with open_store(default_url(str(tmp_path))) as other, other.write("111122223333") as tx:
        tx.put("111122223333", "user", "new", {"name": "new"})
    assert notices.get(timeout=HEARD) is None

"""Failure budgets kept in the store: the limiters of several processes sharing one store
(SQLite or PostgreSQL, each limiter with its own store and pool, as separate processes
have) count every failure once, lock a key out together, and double its lock-out
together. The limiter's rules themselves are tests/unit/services/test_throttle.py's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from tessera.services.throttle import DAILY_LIMITS, FailureLimiter, Limiters, Limits, Locked, mfa_attempt, password_attempt
from tessera.store.base import BackendError, BudgetChange
from tessera.store.sql import SqlStore, default_url, open_store

T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
LIMITS = Limits(max_failures=3, window=60, lockout=100, max_lockout=400)
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[SqlStore, SqlStore]]:
    url = default_url(str(tmp_path)) if request.param == "sqlite" else request.getfixturevalue("pg_url")
    first, second = open_store(url), open_store(url)
    yield first, second
    second.close()
    first.close()


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def fail(limiter: FailureLimiter, key: str, when: dt.datetime) -> None:
    with limiter.attempt([key], when) as attempt:
        attempt.fail()


def refused(limiter: FailureLimiter, key: str, when: dt.datetime) -> bool:
    try:
        with limiter.attempt([key], when):
            return False
    except Locked:
        return True


def test_failures_in_two_processes_lock_the_key_out_in_both(stores: tuple[SqlStore, SqlStore]) -> None:
    here, there = (FailureLimiter(LIMITS, store=store, kind="mfa") for store in stores)
    fail(here, "principal:A", at(0))
    fail(there, "principal:A", at(1))
    assert not refused(here, "principal:A", at(2)) and not refused(there, "principal:A", at(2))
    fail(here, "principal:A", at(3))  # the third, wherever it happens
    assert refused(there, "principal:A", at(4)) and refused(here, "principal:A", at(4))
    assert not refused(there, "principal:B", at(4))  # another key
    assert not refused(here, "principal:A", at(3 + 100))  # the lock-out ends for both
    assert not refused(there, "principal:A", at(3 + 100))


def test_the_doubled_lock_out_is_shared(stores: tuple[SqlStore, SqlStore]) -> None:
    here, there = (FailureLimiter(LIMITS, store=store, kind="mfa") for store in stores)
    for n in range(3):
        fail((here, there)[n % 2], "principal:A", at(n))
    # locked 100 s from t=2; three more failures after it, split the other way round
    for n in range(3):
        fail((there, here)[n % 2], "principal:A", at(102 + n))
    assert refused(here, "principal:A", at(104 + 199)) and refused(there, "principal:A", at(104 + 199))  # 200 s now
    assert not refused(there, "principal:A", at(104 + 200))


def test_successes_count_nothing_and_other_kinds_are_other_budgets(stores: tuple[SqlStore, SqlStore]) -> None:
    first, second = stores
    here, there = Limiters.shared_by(first), Limiters.shared_by(second)
    for _ in range(10):
        with mfa_attempt(here, ["principal:A"], T0):
            pass  # a success
    assert first.read_budgets("mfa", ["principal:A"]) == {}
    for n in range(4):
        with password_attempt((here, there)[n % 2], ["principal:A"], at(n)) as attempt:
            attempt.fail()
    assert set(first.read_budgets("password", ["principal:A"])) == {"principal:A"}
    assert set(second.read_budgets("password-daily", ["principal:A"])) == {"principal:A"}
    assert first.read_budgets("password-daily", ["principal:A"])["principal:A"]["failures"] == [at(n).timestamp() for n in range(4)]
    assert DAILY_LIMITS.max_failures > 4
    with mfa_attempt(there, ["principal:A"], at(5)):  # the MFA budget is untouched
        pass


class Refusing:
    """``inner``, with budget writes refused (a read-only or full database) and, with
    ``stale``, reads that answer as if nothing had been recorded."""

    def __init__(self, inner: SqlStore, *, writes: bool = False, stale: bool = False) -> None:
        self.inner, self.writes, self.stale = inner, writes, stale

    def read_budgets(self, kind: str, keys: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        return {} if self.stale else self.inner.read_budgets(kind, keys)

    def update_budget(self, kind: str, key: str, change: BudgetChange, now: dt.datetime) -> Mapping[str, Any] | None:
        if self.writes:
            raise BackendError("database error: read-only", operation="write", reason="database is read-only")
        return self.inner.update_budget(kind, key, change, now)


def test_failures_the_store_refuses_to_record_still_count_here(stores: tuple[SqlStore, SqlStore]) -> None:
    refusing = Refusing(stores[0], writes=True)
    limiter = FailureLimiter(LIMITS, store=refusing, kind="mfa")  # type: ignore[arg-type]
    for n in range(3):
        with pytest.raises(BackendError):  # answered as an outage
            fail(limiter, "principal:A", at(n))
    assert refused(limiter, "principal:A", at(3))  # the budget is spent all the same: locked here
    assert not refused(limiter, "principal:A", at(2 + 100))  # for the lock-out's time


def test_a_read_older_than_a_failure_does_not_undo_it(stores: tuple[SqlStore, SqlStore]) -> None:
    stale = Refusing(stores[0], stale=True)
    limiter = FailureLimiter(LIMITS, store=stale, kind="mfa")  # type: ignore[arg-type]
    for n in range(3):
        fail(limiter, "principal:A", at(n))
    assert len(stores[0].read_budgets("mfa", ["principal:A"])) == 1  # recorded ...
    assert refused(limiter, "principal:A", at(3))  # ... and what this process knows stands

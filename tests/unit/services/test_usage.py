"""Last-use notes: visible at once, written in batches, never lost to a failed write."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tessera.auth.caller import Caller, SessionClaims
from tessera.services.usage import UsageTracker
from tessera.store.sql import SqlStore, default_url, open_store

A = "111111111111"
WHEN = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    opened = open_store(default_url(str(tmp_path)))
    yield opened
    opened.close()


def user_caller(key: str = "AKIAEXAMPLE000000001") -> Caller:
    return Caller("user", A, f"arn:aws:iam::{A}:user/u", "AIDAEXAMPLE", "u", key)


def role_caller() -> Caller:
    claims = SessionClaims(
        kind="assumed-role",
        access_key_id="ASIAEXAMPLE000000001",
        secret_access_key="s",
        account=A,
        issued_at=WHEN,
        expires_at=WHEN + dt.timedelta(hours=1),
        session_name="s",
        role_arn=f"arn:aws:iam::{A}:role/r",
        role_id="AROAEXAMPLE",
        role_name="r",
    )
    return Caller("assumed-role", A, f"arn:aws:sts::{A}:assumed-role/r/s", "AROAEXAMPLE:s", "r", claims.access_key_id, claims)


def test_notes_are_visible_before_and_after_the_flush(store: SqlStore) -> None:
    tracker = UsageTracker(store)
    tracker.note(user_caller(), "sts", "us-east-1", WHEN)
    tracker.note(role_caller(), "iam", "eu-west-1", WHEN)
    assert tracker.last_use(A, "access_key", "AKIAEXAMPLE000000001") == {
        "date": "2026-05-01T12:00:00Z",
        "service": "sts",
        "region": "us-east-1",
    }
    assert store.get_usage(A, "access_key", "AKIAEXAMPLE000000001") is None
    tracker.flush()
    assert UsageTracker(store).last_use(A, "role", "AROAEXAMPLE") == {"date": "2026-05-01T12:00:00Z", "region": "eu-west-1"}


def test_a_failed_write_keeps_the_notes_for_the_next_flush(store: SqlStore, monkeypatch: Any) -> None:
    tracker = UsageTracker(store)
    tracker.note(user_caller(), "sts", "us-east-1", WHEN)

    def broken(entries: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(store, "put_usage", broken)
    with pytest.raises(OSError, match="disk full"):
        tracker.flush()
    monkeypatch.undo()
    assert tracker.last_use(A, "access_key", "AKIAEXAMPLE000000001") is not None
    tracker.flush()
    assert store.get_usage(A, "access_key", "AKIAEXAMPLE000000001") is not None


def test_never_used_is_none(store: SqlStore) -> None:
    assert UsageTracker(store).last_use(A, "access_key", "AKIANEVERUSED0000001") is None

"""The in-memory view stays answerable while it is rebuilt: a live access key is never
unknown to a concurrent reader."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera.services import records as R
from tessera.services.aws_managed import ManagedPolicies
from tessera.services.view import StateView
from tessera.store.sql import SqlStore, default_url, open_store

A = "111111111111"
KEY = "AKIAEXAMPLE000000001"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    opened = open_store(default_url(str(tmp_path)))
    with opened.write(A) as tx:
        tx.insert(A, R.ACCOUNT, "account", {"id": A})
        tx.insert(A, R.ACCESS_KEY, KEY, {"id": KEY, "user": "", "status": "Active", "secret_sealed": "x"})
    yield opened
    opened.close()


def test_a_live_key_stays_known_while_its_account_is_rebuilt(store: SqlStore) -> None:
    view = StateView(store, ManagedPolicies([]))
    view.load_all()
    misses: list[int] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            if view.account_for_key(KEY) is None:
                misses.append(1)

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # hand the interpreter over as often as possible
    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(500):
            view.refresh([A])  # rebuilds the account each time
    finally:
        stop.set()
        reader.join()
        sys.setswitchinterval(previous)
    assert misses == []


def test_a_deleted_key_is_forgotten(store: SqlStore) -> None:
    view = StateView(store, ManagedPolicies([]))
    view.load_all()
    with store.write(A) as tx:
        tx.delete(A, R.ACCESS_KEY, KEY)
    view.refresh([A])
    assert view.account_for_key(KEY) is None

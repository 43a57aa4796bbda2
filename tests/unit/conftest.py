"""Fixtures of the unit tests that need a server's state: ``runtime``, a real Runtime
over a real SQLite store in ``tmp_path``, for the account the ``account`` fixture names,
at the time of the ``clock`` fixture (each test package or module says which)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera.clock import FixedClock
from tessera.server.bootstrap import open_runtime
from tessera.services.runtime import Runtime


@pytest.fixture
def runtime(tmp_path: Path, clock: FixedClock, account: str) -> Iterator[Runtime]:
    env = {
        "TESSERA_ACCOUNT_ID": account,
        "TESSERA_ROOT_ACCESS_KEY_ID": "AKIAROOTUNITTEST0001",
        "TESSERA_ROOT_SECRET_ACCESS_KEY": "rootSecretForUnitTests00000000000000000",
    }
    rt = open_runtime(str(tmp_path / "data"), env=env, clock=clock, out=io.StringIO())
    yield rt
    rt.store.close()

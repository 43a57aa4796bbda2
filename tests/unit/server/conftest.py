"""Fixtures of the server unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from storefaults import FailingStore

from bench.inproc import build_app
from tessera.server.app import TesseraApp
from tessera.services.runtime import Runtime
from tessera.store.guard import GuardedStore


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Runtime, TesseraApp, FailingStore]]:
    runtime, app = build_app(str(tmp_path))
    guarded = runtime.store
    assert isinstance(guarded, GuardedStore)
    failing = FailingStore(guarded.inner)
    guarded.inner = failing  # type: ignore[assignment]
    yield runtime, app, failing
    app.executor.shutdown(wait=True)
    failing.inner.close()

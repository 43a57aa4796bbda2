"""The event-loop guard: no store I/O from a step the server runs on the event loop."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera.services import authz, sts  # noqa: F401  (registers the handlers)
from tessera.services.request import registered
from tessera.store.base import GLOBAL
from tessera.store.guard import EventLoopGuard, GuardedStore, StoreOnEventLoop
from tessera.store.sql import default_url, open_store


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[tuple[GuardedStore, EventLoopGuard]]:
    guard = EventLoopGuard()
    store = GuardedStore(open_store(default_url(str(tmp_path))), guard)
    yield store, guard
    store.close()


def test_the_store_refuses_the_marked_thread(guarded: tuple[GuardedStore, EventLoopGuard]) -> None:
    store, guard = guarded
    guard.enter()
    try:
        with pytest.raises(StoreOnEventLoop):
            store.generations()
        with pytest.raises(StoreOnEventLoop):
            store.write(GLOBAL)
        with pytest.raises(StoreOnEventLoop):
            store.get_usage(GLOBAL, "k", "x")
        with pytest.raises(StoreOnEventLoop):
            store.list_usage(GLOBAL, "k")
    finally:
        guard.leave()
    assert isinstance(store.generations(), dict)


def test_other_threads_use_the_store_while_the_loop_is_marked(guarded: tuple[GuardedStore, EventLoopGuard]) -> None:
    store, guard = guarded
    seen: list[object] = []
    guard.enter()
    try:
        worker = threading.Thread(target=lambda: seen.append(store.scopes()))
        worker.start()
        worker.join()
    finally:
        guard.leave()
    assert seen == [store.scopes()]


def test_every_inline_operation_is_one_exercised_under_the_guard() -> None:
    """tests/unit/services/sts_world.World.call runs inline handlers under the guard, so
    the STS and authorization API unit tests fail if one touches the store; an inline
    operation of another service would need the same."""
    inline = {spec.service for spec in registered() if spec.inline}
    assert inline == {"sts", "tessera-authz"}


def test_every_store_method_is_guarded() -> None:
    """A method added to the Store protocol must be wrapped by the guard too."""
    from tessera.store.base import Store

    wanted = {name for name in vars(Store) if not name.startswith("_") and callable(getattr(Store, name))}
    assert wanted <= {name for name in vars(GuardedStore) if not name.startswith("_")}

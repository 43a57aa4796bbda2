"""Settling the heap: warm-up loaders run first, survivors are frozen, young collections
are spaced out. The process-wide collector state is restored after each test."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from tessera.server import heap


@pytest.fixture(autouse=True)
def restore_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_settle_freezes_what_the_warm_up_built() -> None:
    built: list[object] = []

    def load() -> None:
        built.append({"long": ["lived"]})

    frozen = heap.settle([load])
    assert built, "the warm-up loader ran"
    assert frozen > 0
    assert gc.is_tracked(built[0])
    assert not any(obj is built[0] for obj in gc.get_objects())  # frozen objects are not walked


def test_settle_spaces_young_collections_and_keeps_the_older_thresholds() -> None:
    _, middle, old = gc.get_threshold()
    heap.settle()
    assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, middle, old)

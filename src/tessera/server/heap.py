"""Keeping the cycle collector's pauses off the request path.

The server holds a large, long-lived heap from start-up on: botocore's service models,
the compiled policies and the in-memory state view (hundreds of thousands of objects
with many accounts). CPython's full collections walk every tracked object; measured
here, one took 40–55 ms with ~95 000 objects, long enough to stall every request in
flight. Once start-up is done, ``settle`` moves what exists into the permanent
generation (``gc.freeze``): later collections walk only what was made since, so a full
collection costs what the young heap costs. Frozen objects are still freed by reference
counting when the state view replaces them; garbage cycles among them are never
collected (bounded by the start-up heap: later states are not frozen).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable

YOUNG_THRESHOLD = 7000
"""Allocations between young collections (CPython's default is 700): requests allocate
and free many short-lived containers, and each young collection is a pause of its own."""


def settle(warm_up: Iterable[Callable[[], object]] = ()) -> int:
    """Run ``warm_up`` (loaders of lazily built, long-lived data), collect once, freeze
    the survivors and widen the young generation. Returns the count of frozen objects."""
    for load in warm_up:
        load()
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    return gc.get_freeze_count()

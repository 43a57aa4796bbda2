"""Memoising parsers of text that clients send.

The request path memoises a few parsers (credential scopes, timestamps, signed-header
lists, client addresses) because every request of a client repeats the same text. The
text comes from the client before it is authenticated, so a cache must not let a client
pin memory: only short texts are kept (``MAX_LENGTH``), in an LRU of bounded size;
anything longer is parsed each time and forgotten.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

__all__ = ["MAX_LENGTH", "memoised"]

MAX_LENGTH = 256
"""Longest text kept; a credential scope is under 100 characters, an address under 50."""

T = TypeVar("T")


def memoised(maxsize: int) -> Callable[[Callable[[str], T]], Callable[[str], T]]:
    """Decorate a pure ``str -> T`` parser with an LRU of ``maxsize`` short texts.
    Exceptions are not cached (as with ``functools.lru_cache``)."""

    def decorate(parse: Callable[[str], T]) -> Callable[[str], T]:
        cached = functools.lru_cache(maxsize=maxsize)(parse)

        @functools.wraps(parse)
        def call(text: str) -> T:
            return cached(text) if len(text) <= MAX_LENGTH else parse(text)

        return call

    return decorate

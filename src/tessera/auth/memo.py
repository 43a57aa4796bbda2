"""Memoising parsers of text that clients send (``tessera.cache.memoised``).

The request path memoises a few parsers (credential scopes, timestamps, signed-header
lists, client addresses) because every request of a client repeats the same text. The
text comes from the client before it is authenticated, so a cache must not let a client
pin memory: only short texts are kept (``MAX_LENGTH``), in an LRU of bounded size;
anything longer is parsed each time and forgotten.
"""

from __future__ import annotations

from tessera.cache import MAX_LENGTH, memoised

__all__ = ["MAX_LENGTH", "memoised"]

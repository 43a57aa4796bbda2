"""tessera.cache: the bounded LRU and the memoised parsers."""

from __future__ import annotations

import threading

import pytest

from tessera.cache import LRU, MAX_LENGTH, memoised


def test_lru_forgets_the_least_recently_used_entry() -> None:
    cache: LRU[str, int] = LRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the least recently used
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    assert len(cache) == 2


def test_lru_replacing_a_value_keeps_one_entry() -> None:
    cache: LRU[str, int] = LRU(2)
    cache.put("a", 1)
    cache.put("a", 2)
    assert (cache.get("a"), len(cache)) == (2, 1)
    cache.clear()
    assert len(cache) == 0


def test_lru_needs_room_for_one_entry() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        LRU(0)


def test_lru_stays_bounded_under_concurrent_use() -> None:
    cache: LRU[int, int] = LRU(64)

    def fill(base: int) -> None:
        for i in range(2000):
            cache.put(base + i, i)
            cache.get(base + i // 2)

    threads = [threading.Thread(target=fill, args=(n * 10_000,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache) == 64


def test_memoised_keeps_short_texts_only() -> None:
    calls: list[str] = []

    @memoised(8)
    def parse(text: str) -> int:
        calls.append(text)
        return len(text)

    assert parse("short") == parse("short") == 5
    long = "x" * (MAX_LENGTH + 1)
    assert parse(long) == parse(long) == MAX_LENGTH + 1
    assert calls == ["short", long, long]

"""Request and event ids: UUID text, RFC 9562 version 8, never repeated."""

from __future__ import annotations

import itertools
import threading
import uuid

import pytest

from tessera.audit import ids
from tessera.audit.ids import new_id


def test_ids_are_version_8_uuids_in_canonical_text():
    text = new_id()
    parsed = uuid.UUID(text)
    assert str(parsed) == text
    assert parsed.version == 8
    assert parsed.variant == uuid.RFC_4122


def test_ids_never_repeat_across_threads():
    found: list[list[str]] = [[] for _ in range(4)]

    def draw(into: list[str]) -> None:
        into.extend(new_id() for _ in range(5000))

    threads = [threading.Thread(target=draw, args=(out,)) for out in found]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [text for out in found for text in out]
    assert len(set(every)) == len(every) == 20000


def test_ids_of_one_process_share_their_random_prefix():
    first, second = new_id(), new_id()
    assert first[:19] == second[:19]
    assert first != second


@pytest.mark.parametrize("n", [0, 1, 0xFFFF, 2**48 - 1, 2**48, 2**61 + 12345, 2**62 - 1, 2**62, 2**64 + 7])
def test_the_counter_is_written_as_it_always_was(n, monkeypatch):
    monkeypatch.setattr(ids._SEQUENCE, "counter", itertools.count(n))
    masked = n & ((1 << 62) - 1)
    assert ids.new_id() == f"{ids._SEQUENCE.prefix}{0x8000 | masked >> 48:04x}-{masked & 0xFFFFFFFFFFFF:012x}"

"""The audit writer: small paced batches while running, everything on close (at once),
a failed batch retried, nothing lost."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from tessera.audit.sink import AuditWriter


class RecordingSink:
    def __init__(self, failures: int = 0) -> None:
        self.batches: list[list[str]] = []
        self.failures = failures

    def append_audit(self, events: Sequence[Mapping[str, Any]]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("store briefly unavailable")
        self.batches.append([str(event["eventID"]) for event in events])


def events(count: int) -> list[dict[str, Any]]:
    return [{"eventID": f"e{n}"} for n in range(count)]


def test_close_writes_everything_in_batches_without_pausing() -> None:
    sink = RecordingSink()
    writer = AuditWriter(sink, batch_size=2, pause=3600)
    for event in events(5):
        writer.submit(event)
    closing = threading.Thread(target=writer.close)
    closing.start()
    closing.join(timeout=30)
    assert not closing.is_alive(), "close() paused between batches"
    assert sink.batches == [["e0", "e1"], ["e2", "e3"], ["e4"]]
    assert writer.backlog == 0 and writer.written == 5


def test_the_running_writer_drains_the_queue() -> None:
    sink = RecordingSink()
    writer = AuditWriter(sink, batch_size=3, interval=0.01, pause=0.001)
    writer.start()
    for event in events(10):
        writer.submit(event)
    deadline = time.monotonic() + 30
    while writer.written < 10 and time.monotonic() < deadline:
        time.sleep(0.01)  # waiting for the writer thread, not timing it
    writer.close()
    assert [event for batch in sink.batches for event in batch] == [f"e{n}" for n in range(10)]
    assert all(len(batch) <= 3 for batch in sink.batches)


def test_a_failed_batch_is_retried_and_written_once() -> None:
    sink = RecordingSink(failures=1)
    writer = AuditWriter(sink, batch_size=10)
    for event in events(3):
        writer.submit(event)
    writer.close()
    assert sink.batches == [["e0", "e1", "e2"]]


class PickySink(RecordingSink):
    """A store that refuses any batch holding one particular event."""

    def append_audit(self, events: Sequence[Mapping[str, Any]]) -> None:
        if any(event["eventID"] == "e1" for event in events):
            raise ValueError("this event cannot be stored")
        super().append_audit(events)


def test_an_event_the_store_refuses_does_not_take_its_batch_with_it() -> None:
    sink = PickySink()
    writer = AuditWriter(sink, batch_size=10, pause=0)
    writer._stop.set()  # no pauses between retries in this test
    for event in events(4):
        writer.submit(event)
    writer.close()
    assert [event for batch in sink.batches for event in batch] == ["e0", "e2", "e3"]
    assert writer.written == 3

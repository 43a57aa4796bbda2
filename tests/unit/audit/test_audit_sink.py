"""The audit writer: small paced batches while running, everything on close (at once),
a failed batch retried, nothing lost; durable events committed in groups before their
requests are answered; a store that refuses writes makes the writer refuse requests
until it takes them again."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from tessera.audit.sink import AuditUnavailable, AuditWriter


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


class GatedSink(RecordingSink):
    """Holds the first write until ``release`` is set: a commit in progress."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def append_audit(self, events: Sequence[Mapping[str, Any]]) -> None:
        if not self.batches:
            self.entered.set()
            assert self.release.wait(30)
        super().append_audit(events)


def test_durable_events_wait_for_their_commit_and_share_the_next_one() -> None:
    """Group commit: events submitted while a batch commits go, together, into the next."""
    sink = GatedSink()
    writer = AuditWriter(sink, interval=3600)  # only a durable event wakes the writer
    try:
        first = writer.submit_durable({"eventID": "d0"})
        assert sink.entered.wait(30)
        writer.submit({"eventID": "q0"})  # an answered request's event rides along
        rest = [writer.submit_durable({"eventID": f"d{n}"}) for n in (1, 2, 3)]
        assert not first.done() and not any(f.done() for f in rest)
        sink.release.set()
        for future in [first, *rest]:
            future.result(timeout=30)
        assert sink.batches == [["d0"], ["d1", "d2", "d3", "q0"]]
        assert writer.commits == 2 and writer.written == 5
    finally:
        sink.release.set()
        writer.close()


class SwitchableSink(RecordingSink):
    """A store that refuses every write (the audit table included) while ``down``."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.probes = 0

    def append_audit(self, events: Sequence[Mapping[str, Any]]) -> None:
        if not events:
            self.probes += 1
        if self.down:
            raise ConnectionError("database unreachable")
        if events:
            super().append_audit(events)


def wait_for(condition: Any) -> None:
    """Wait for the writer thread to reach a state (not timing it)."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "the writer never got there"
        time.sleep(0.005)


def test_a_store_that_refuses_writes_fails_durable_events_keeps_the_others_and_recovers() -> None:
    sink = SwitchableSink()
    writer = AuditWriter(sink, interval=0.01, retry_interval=0.01, pause=0)
    try:
        writer.submit({"eventID": "answered-before"})
        sink.down = True
        refused = writer.submit_durable({"eventID": "credentials"})
        with pytest.raises(AuditUnavailable):
            refused.result(timeout=30)
        assert not writer.healthy and not writer.accepting
        writer.submit({"eventID": "answered-during"})
        wait_for(lambda: writer.backlog == 2)  # kept, in order, retried: never dropped
        sink.down = False
        wait_for(lambda: writer.healthy and writer.backlog == 0)
        assert writer.accepting
        assert [e for batch in sink.batches for e in batch] == ["answered-before", "answered-during"]
        writer.submit_durable({"eventID": "after"}).result(timeout=30)
    finally:
        writer.close()


def test_with_nothing_queued_the_writer_probes_until_the_store_takes_writes() -> None:
    sink = SwitchableSink()
    writer = AuditWriter(sink, interval=0.01, retry_interval=0.01)
    try:
        sink.down = True
        with pytest.raises(AuditUnavailable):
            writer.submit_durable({"eventID": "credentials"}).result(timeout=30)
        wait_for(lambda: sink.probes >= 2)
        assert not writer.healthy and writer.backlog == 0
        sink.down = False
        wait_for(lambda: writer.accepting)
    finally:
        writer.close()


def test_a_full_backlog_stops_accepting_until_it_drains() -> None:
    sink = RecordingSink()
    writer = AuditWriter(sink, max_backlog=3, batch_size=2, pause=0)
    for event in events(3):
        writer.submit(event)
    assert writer.healthy and not writer.accepting
    assert writer.flush()
    assert writer.accepting and writer.written == 3


def test_a_closed_writer_refuses_durable_events() -> None:
    writer = AuditWriter(RecordingSink())
    writer.close()
    future = writer.submit_durable({"eventID": "late"})
    assert isinstance(future, concurrent.futures.Future)
    with pytest.raises(AuditUnavailable):
        future.result(timeout=0)


def test_close_keeps_retrying_a_store_that_comes_back() -> None:
    sink = RecordingSink(failures=3)
    writer = AuditWriter(sink, retry_interval=0.001)
    for event in events(2):
        writer.submit(event)
    writer.close()
    assert sink.batches == [["e0", "e1"]] and writer.backlog == 0


def test_close_does_not_wait_for_a_down_store_when_nothing_is_queued() -> None:
    sink = SwitchableSink()
    writer = AuditWriter(sink, retry_interval=3600, close_timeout=3600)
    sink.down = True
    with pytest.raises(AuditUnavailable):
        writer.submit_durable({"eventID": "credentials"}).result(timeout=30)
    closing = threading.Thread(target=writer.close)
    closing.start()
    closing.join(timeout=30)
    assert not closing.is_alive(), "close() waited for a store it has nothing to write to"

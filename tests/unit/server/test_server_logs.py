"""The batching log handler: access lines are held and written together, everything else
at once and in order, and nothing held is lost on flush or close."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator

import pytest

from tessera.server.logs import ACCESS_LOGGER, BatchingHandler


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


@pytest.fixture
def stream() -> CountingStream:
    return CountingStream()


@pytest.fixture
def handler(stream: CountingStream) -> Iterator[BatchingHandler]:
    handler = BatchingHandler(stream, interval=3600)  # only explicit flushes in these tests
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    yield handler
    handler.close()


def record(name: str, message: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, None, None)


def test_access_lines_are_held_then_written_in_one_call(handler: BatchingHandler, stream: CountingStream) -> None:
    for n in range(3):
        handler.handle(record(ACCESS_LOGGER, f"request {n}"))
    assert stream.getvalue() == ""
    handler.flush()
    assert stream.getvalue().splitlines() == [f"{ACCESS_LOGGER} request {n}" for n in range(3)]
    assert stream.writes == 1


def test_other_records_write_what_is_held_first(handler: BatchingHandler, stream: CountingStream) -> None:
    handler.handle(record(ACCESS_LOGGER, "request 1"))
    handler.handle(record("tessera.server", "something happened"))
    assert stream.getvalue().splitlines() == [f"{ACCESS_LOGGER} request 1", "tessera.server something happened"]


def test_an_access_warning_is_not_held(handler: BatchingHandler, stream: CountingStream) -> None:
    handler.handle(record(ACCESS_LOGGER, "slow", logging.WARNING))
    assert stream.getvalue() == f"{ACCESS_LOGGER} slow\n"


def test_the_size_limit_writes_what_is_held(stream: CountingStream) -> None:
    handler = BatchingHandler(stream, interval=3600, limit=100)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.handle(record(ACCESS_LOGGER, "x" * 60))
    assert stream.getvalue() == ""
    handler.handle(record(ACCESS_LOGGER, "y" * 60))
    assert stream.getvalue() == "x" * 60 + "\n" + "y" * 60 + "\n"
    handler.close()


def test_close_writes_what_is_held(handler: BatchingHandler, stream: CountingStream) -> None:
    handler.handle(record(ACCESS_LOGGER, "last request"))
    handler.close()
    assert stream.getvalue() == f"{ACCESS_LOGGER} last request\n"


def test_held_lines_are_written_without_further_records(stream: CountingStream) -> None:
    handler = BatchingHandler(stream, interval=0.01)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.handle(record(ACCESS_LOGGER, "quiet afterwards"))
    deadline = time.monotonic() + 10
    while not stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)  # waiting for the flusher thread, not timing it
    assert stream.getvalue() == "quiet afterwards\n"
    handler.close()


class FailingOnce(CountingStream):
    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def write(self, text: str) -> int:
        if not self.failed:
            self.failed = True
            raise BlockingIOError("stderr is full")
        return super().write(text)


def test_a_failed_write_does_not_stop_the_flusher() -> None:
    stream = FailingOnce()
    handler = BatchingHandler(stream, interval=0.01)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.handle(record(ACCESS_LOGGER, "lost with the failed write"))
    deadline = time.monotonic() + 10
    while not stream.failed and time.monotonic() < deadline:
        time.sleep(0.01)
    handler.handle(record(ACCESS_LOGGER, "written later"))
    while "written later" not in stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)  # waiting for the flusher thread, not timing it
    assert stream.getvalue() == "written later\n"
    handler.close()

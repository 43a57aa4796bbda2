"""BoundedHttpProtocol: header size and count limits and the header/body deadlines,
driven byte by byte with a fake transport and a loop whose timers the test fires."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from tessera.server.http import BoundedHttpProtocol, HttpLimits


EXTRA = {"peername": ("198.51.100.7", 40000), "sockname": ("127.0.0.1", 8686)}


class FakeTransport:
    def __init__(self) -> None:
        self.written = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return EXTRA.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class Timer:
    def __init__(self, delay: float, callback: Callable[[], None]) -> None:
        self.delay, self.callback, self.cancelled = delay, callback, False

    def cancel(self) -> None:
        self.cancelled = True


class Task:
    def add_done_callback(self, callback: Callable[[Any], None]) -> None:
        pass


class FakeLoop:
    """Timers are kept, not run: ``fire`` runs the pending ones (time passing)."""

    def __init__(self) -> None:
        self.timers: list[Timer] = []
        self.requests: list[dict[str, Any]] = []

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(delay, callback)
        self.timers.append(timer)
        return timer

    def create_task(self, coroutine: Any, **_: Any) -> Any:
        coroutine.close()  # the application is not run: only what reaches it is recorded
        return Task()

    def pending(self) -> list[Timer]:
        return [t for t in self.timers if not t.cancelled]

    def fire(self) -> None:
        for timer in self.pending():
            timer.cancelled = True
            timer.callback()


async def app(scope: Any, receive: Any, send: Any) -> None:  # never run
    raise AssertionError("not reached")


def connect(limits: HttpLimits) -> tuple[BoundedHttpProtocol, FakeTransport, FakeLoop, list[dict[str, Any]]]:
    config = Config(app, http=BoundedHttpProtocol.with_limits(limits), ws="none", lifespan="off",
                    proxy_headers=False, log_config=None)
    config.load()
    loop = FakeLoop()
    protocol = config.http_protocol_class(config=config, server_state=ServerState(), app_state={},  # type: ignore[call-arg]
                                          _loop=loop)
    started: list[dict[str, Any]] = []
    original = protocol._start_asgi_task  # type: ignore[attr-defined]

    def record(cycle: Any, application: Any) -> None:
        started.append(cycle.scope)
        original(cycle, application)

    protocol._start_asgi_task = record  # type: ignore[attr-defined,method-assign]
    transport = FakeTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    return protocol, transport, loop, started


def status(transport: FakeTransport) -> int:
    return int(transport.written.split(b" ", 2)[1]) if transport.written else 0


LIMITS = HttpLimits(max_header_bytes=4096, max_header_count=20, header_timeout=10, body_timeout=30)


def test_a_request_within_the_limits_reaches_the_application() -> None:
    protocol, transport, _, started = connect(LIMITS)
    headers = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(18))  # 20 lines with Host and Content-Length
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: x\r\n" + headers + b"Content-Length: 0\r\n\r\n")
    assert len(started) == 1 and not transport.closed


def test_unterminated_headers_are_refused_at_the_byte_limit() -> None:
    protocol, transport, _, started = connect(LIMITS)
    protocol.data_received(b"GET / HTTP/1.1\r\nX-Big: ")
    for _ in range(100):  # 100 KiB more, a KiB at a time: refused after the first 4 KiB
        protocol.data_received(b"a" * 1024)
        if transport.closed:
            break
    assert status(transport) == 431 and transport.closed and not started
    assert protocol._header_bytes <= LIMITS.max_header_bytes


def test_one_huge_read_is_refused_without_parsing_it_all() -> None:
    protocol, transport, _, started = connect(LIMITS)
    protocol.data_received(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * (10 << 20))
    assert status(transport) == 431 and not started


def test_too_many_header_lines_are_refused() -> None:
    protocol, transport, _, started = connect(LIMITS)
    headers = b"".join(b"X-%d: 1\r\n" % i for i in range(21))
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert status(transport) == 431 and transport.closed and not started


def test_a_large_body_is_not_counted_as_headers() -> None:
    protocol, transport, _, started = connect(LIMITS)
    body = b"a" * 100_000
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    assert len(started) == 1 and not transport.closed


def test_headers_that_do_not_arrive_in_time_get_408() -> None:
    protocol, transport, loop, started = connect(LIMITS)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and then nothing
    assert [t.delay for t in loop.pending()] == [LIMITS.header_timeout]
    loop.fire()
    assert status(transport) == 408 and transport.closed and not started


def test_a_connection_that_sends_nothing_is_closed() -> None:
    _, transport, loop, _ = connect(LIMITS)
    assert [t.delay for t in loop.pending()] == [LIMITS.header_timeout]
    loop.fire()
    assert transport.closed


def test_trickling_headers_do_not_extend_the_deadline() -> None:
    protocol, transport, loop, _ = connect(LIMITS)
    protocol.data_received(b"GET / HTTP/1.1\r\n")
    first = loop.pending()
    for _ in range(50):
        protocol.data_received(b"X")
    assert loop.pending() == first  # one deadline, not re-armed by each byte
    loop.fire()
    assert status(transport) == 408


def test_a_body_that_does_not_arrive_in_time_closes_the_connection() -> None:
    protocol, transport, loop, started = connect(LIMITS)
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
    assert len(started) == 1
    assert [t.delay for t in loop.pending()] == [LIMITS.body_timeout]
    loop.fire()
    assert status(transport) == 408 and transport.closed


def test_a_complete_request_leaves_no_deadline() -> None:
    protocol, transport, loop, started = connect(LIMITS)
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
    assert len(started) == 1 and loop.pending() == [] and not transport.closed


@pytest.mark.parametrize("size", [4000, 4096])
def test_headers_up_to_the_limit_are_accepted(size: int) -> None:
    protocol, transport, _, started = connect(LIMITS)
    head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: "
    tail = b"\r\n\r\n"
    protocol.data_received(head + b"p" * (size - len(head) - len(tail)) + tail)
    assert len(started) == 1 and not transport.closed


def test_pipelined_requests_are_each_held_to_the_limit_not_their_sum() -> None:
    protocol, transport, _, started = connect(LIMITS)
    one = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 3000 + b"\r\n\r\n"
    protocol.data_received(one * 3)
    assert not transport.closed
    assert len(started) == 1 and len(protocol.pipeline) == 2  # the others wait their turn


def test_a_connection_beyond_the_limit_is_answered_503_and_closed() -> None:
    limits = HttpLimits(max_connections=2)
    config = Config(app, http=BoundedHttpProtocol.with_limits(limits), ws="none", lifespan="off",
                    proxy_headers=False, log_config=None)
    config.load()
    state, loop = ServerState(), FakeLoop()
    transports = []
    for _ in range(3):
        protocol = config.http_protocol_class(config=config, server_state=state, app_state={},  # type: ignore[call-arg]
                                              _loop=loop)
        transport = FakeTransport()
        protocol.connection_made(transport)  # type: ignore[arg-type]
        transports.append(transport)
    assert [t.closed for t in transports] == [False, False, True]
    assert status(transports[2]) == 503
    assert len(loop.pending()) == 2  # no deadline kept for the refused one

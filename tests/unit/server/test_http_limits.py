"""BoundedHttpProtocol: header, body and trailer limits, the header/body/write deadlines
and the pipeline bound, driven byte by byte with a fake transport and a loop whose timers
the test fires; and the TLS handshake deadline of the listener's loop."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

import pytest
import uvloop
from uvicorn.config import Config
from uvicorn.server import ServerState

from tessera.server.http import MAX_PIPELINED, MIN_WRITE_PROGRESS, BoundedHttpProtocol, HttpLimits, loop_factory

EXTRA = {"peername": ("198.51.100.7", 40000), "sockname": ("127.0.0.1", 8686)}


class FakeTransport:
    """``unread`` is what sits in the write buffer (the client is not reading): while it
    is set, writes stay in the buffer too."""

    def __init__(self) -> None:
        self.written = b""
        self.closed = False
        self.aborted = False
        self.unread = 0

    def write(self, data: bytes) -> None:
        if self.unread:
            self.unread += len(data)
        else:
            self.written += data

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = self.aborted = True

    def get_write_buffer_size(self) -> int:
        return self.unread

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
    config = Config(app, http=BoundedHttpProtocol.with_limits(limits), ws="none", lifespan="off", proxy_headers=False, log_config=None)
    config.load()
    loop = FakeLoop()
    protocol = config.http_protocol_class(
        config=config,
        server_state=ServerState(),
        app_state={},  # type: ignore[call-arg]
        _loop=loop,
    )
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


LIMITS = HttpLimits(max_header_bytes=4096, max_header_count=20, header_timeout=10, body_timeout=30, max_body_bytes=10_000)


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
    body = b"a" * 10_000
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
    config = Config(app, http=BoundedHttpProtocol.with_limits(limits), ws="none", lifespan="off", proxy_headers=False, log_config=None)
    config.load()
    state, loop = ServerState(), FakeLoop()
    transports = []
    for _ in range(3):
        protocol = config.http_protocol_class(
            config=config,
            server_state=state,
            app_state={},  # type: ignore[call-arg]
            _loop=loop,
        )
        transport = FakeTransport()
        protocol.connection_made(transport)  # type: ignore[arg-type]
        transports.append(transport)
    assert [t.closed for t in transports] == [False, False, True]
    assert status(transports[2]) == 503
    assert len(loop.pending()) == 2  # no deadline kept for the refused one


# -- bodies and trailers ---------------------------------------------------------------------

CHUNKED = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"


def test_a_chunked_body_without_trailers_reaches_the_application() -> None:
    protocol, transport, loop, started = connect(LIMITS)
    protocol.data_received(CHUNKED + b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
    assert len(started) == 1 and not transport.closed and loop.pending() == []
    assert protocol.cycle.body == b"abcde" and not protocol.cycle.more_body
    assert protocol._phase == "idle"


def test_trailers_do_not_reach_the_request_headers() -> None:
    protocol, transport, _, started = connect(LIMITS)
    protocol.data_received(CHUNKED + b"3\r\nabc\r\n0\r\nX-Forwarded-For: 203.0.113.9\r\nX-Amz-Date: 1\r\n\r\n")
    assert len(started) == 1 and not transport.closed
    assert started[0]["headers"] == [(b"host", b"x"), (b"transfer-encoding", b"chunked")]
    assert not protocol.cycle.more_body  # the request still ends


def test_a_trailer_flood_is_refused_at_the_body_limit() -> None:
    protocol, transport, _, started = connect(LIMITS)
    protocol.data_received(CHUNKED + b"3\r\nabc\r\n0\r\n")
    fed = 0
    for i in range(10_000):  # 10 000 trailer lines of 100 bytes, a line at a time
        protocol.data_received(b"X-T%05d: " % i + b"t" * 90 + b"\r\n")
        fed += 100
        if transport.closed:
            break
    assert status(transport) == 413 and transport.closed
    assert fed <= LIMITS.max_body_bytes + LIMITS.max_header_bytes + 100
    assert len(started[0]["headers"]) == 2


def test_one_huge_trailer_value_is_not_parsed_past_the_limit() -> None:
    protocol, transport, _, _ = connect(LIMITS)
    protocol.data_received(CHUNKED + b"0\r\nX-Big: " + b"a" * (10 << 20))
    assert status(transport) == 413 and transport.closed
    assert protocol._body_bytes <= LIMITS.max_body_bytes + LIMITS.max_header_bytes


def test_a_body_that_never_ends_is_refused_at_the_body_limit() -> None:
    protocol, transport, _, _ = connect(LIMITS)
    protocol.data_received(CHUNKED)
    for _ in range(100):
        protocol.data_received(b"3e8\r\n" + b"a" * 1000 + b"\r\n")
        if transport.closed:
            break
    assert status(transport) == 413 and transport.closed


OVERSIZED = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (LIMITS.max_body_bytes + 1)


def test_a_body_declared_over_the_limit_is_not_read() -> None:
    protocol, transport, _, started = connect(LIMITS)
    protocol.data_received(OVERSIZED)
    assert len(started) == 1  # the application answers RequestEntityTooLarge from the header
    protocol.data_received(b"a" * (LIMITS.max_body_bytes + 1))
    assert protocol.cycle.body == b"" and protocol._body_bytes == 0  # dropped, not parsed
    assert not transport.closed  # not answered yet: closing now would lose the answer
    protocol.cycle.response_complete = True
    protocol.on_response_complete()
    assert transport.closed  # answered, and the client has sent all it declared


@pytest.mark.parametrize("connection", [b"", b"Connection: close\r\n"], ids=["keep-alive", "close"])
def test_an_answered_oversized_request_lingers_until_its_body_is_sent(connection: bytes) -> None:
    """Closing while the client still sends would reset the connection, and the client
    could lose the answer before reading it (it sees a broken pipe instead of a 413)."""
    protocol, transport, loop, _ = connect(LIMITS)
    protocol.data_received(OVERSIZED.replace(b"Host: x\r\n", b"Host: x\r\n" + connection))
    assert protocol.cycle.keep_alive  # uvicorn would close at the end of the answer otherwise
    protocol.cycle.response_complete = True
    protocol.on_response_complete()
    assert not transport.closed
    assert LIMITS.body_timeout not in [t.delay for t in loop.pending()]  # no 408 after the answer
    protocol.data_received(b"a" * LIMITS.max_body_bytes)
    assert not transport.closed
    protocol.data_received(b"a")
    assert transport.closed


def test_a_content_length_at_the_body_limit_is_accepted() -> None:
    protocol, transport, _, started = connect(LIMITS)
    body = b"a" * LIMITS.max_body_bytes
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    assert len(started) == 1 and not transport.closed


# -- clients that do not read ----------------------------------------------------------------


def test_a_write_stall_aborts_the_connection_at_the_body_deadline() -> None:
    protocol, transport, loop, _ = connect(LIMITS)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert loop.pending() == []
    transport.unread = 1 << 20
    protocol.pause_writing()
    assert [t.delay for t in loop.pending()] == [LIMITS.body_timeout]
    loop.fire()
    assert transport.aborted


def test_a_slow_but_steady_reader_of_a_large_answer_keeps_its_connection() -> None:
    protocol, transport, loop, _ = connect(LIMITS)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    transport.unread = 8 << 20  # an 8 MiB answer, far more than one deadline's worth
    protocol.pause_writing()
    for _ in range(3):  # each period the client takes a little more than the minimum
        transport.unread -= MIN_WRITE_PROGRESS
        loop.fire()
        assert not transport.aborted
        assert [t.delay for t in loop.pending()] == [LIMITS.body_timeout]
    loop.fire()  # a period in which it took nothing
    assert transport.aborted


def test_a_client_that_reads_again_in_time_keeps_its_connection() -> None:
    protocol, transport, loop, _ = connect(LIMITS)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    protocol.pause_writing()
    protocol.resume_writing()
    assert loop.pending() == [] and not transport.closed


def test_a_refusal_to_a_client_that_does_not_read_aborts() -> None:
    protocol, transport, loop, _ = connect(LIMITS)
    transport.unread = 1000  # earlier answers, still unread
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n")
    loop.fire()  # the header deadline
    assert transport.aborted


def test_an_idle_connection_with_unread_answers_is_aborted_after_the_keep_alive_timeout() -> None:
    protocol, transport, loop, _ = connect(LIMITS)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    transport.unread = 1000  # answered, unread
    protocol.timeout_keep_alive_handler()
    assert transport.closed and not transport.aborted  # a close that waits for the reader...
    assert [t.delay for t in loop.pending()] == [LIMITS.body_timeout]
    loop.fire()
    assert transport.aborted  # ...for at most the body deadline


def test_a_connection_closed_after_its_last_answer_waits_at_most_the_body_deadline() -> None:
    protocol, transport, loop, _ = connect(LIMITS)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    transport.unread, transport.closed = 1000, True  # answered, closed, unread
    protocol.on_response_complete()
    assert [t.delay for t in loop.pending()] == [LIMITS.body_timeout]
    loop.fire()
    assert transport.aborted


def test_pipelined_requests_beyond_the_queue_limit_are_dropped_and_the_connection_closed_after() -> None:
    protocol, transport, _, started = connect(LIMITS)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * (MAX_PIPELINED + 50))
    assert len(started) == 1 and len(protocol.pipeline) == MAX_PIPELINED
    assert protocol.cycle.keep_alive is False  # the last queued one closes the connection
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 10)  # dropped
    assert len(protocol.pipeline) == MAX_PIPELINED and transport.written == b""


# -- TLS handshakes ------------------------------------------------------------------------------


@pytest.mark.parametrize("tls", [True, False])
def test_tls_listeners_get_the_header_deadline_as_their_handshake_timeout(monkeypatch: pytest.MonkeyPatch, tls: bool) -> None:
    seen: dict[str, Any] = {}

    async def create_server(self: Any, *args: Any, **kwargs: Any) -> None:
        seen.update(kwargs)

    monkeypatch.setattr(uvloop.Loop, "create_server", create_server)
    loop = loop_factory(HttpLimits(header_timeout=2.5))()
    try:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER) if tls else None
        loop.run_until_complete(loop.create_server(lambda: None, sock=None, ssl=context))  # type: ignore[arg-type,return-value]
    finally:
        loop.close()
    assert seen.get("ssl_handshake_timeout") == (2.5 if tls else None)


def test_an_abort_marks_the_response_under_way_disconnected() -> None:
    protocol, transport, loop, _ = connect(LIMITS)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    protocol.pause_writing()
    loop.fire()
    assert transport.aborted and protocol.cycle.disconnected  # its next write is skipped, not an error


def test_an_abort_marks_the_response_under_way_disconnected_not_only_the_newest_request() -> None:
    protocol, transport, loop, _started = connect(LIMITS)
    protocol.data_received(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
    running = protocol.cycle
    protocol.pause_writing()
    protocol.data_received(b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n")  # queued behind it
    assert len(protocol.pipeline) == 1 and protocol.cycle is not running
    loop.fire()
    assert transport.aborted and running.disconnected

"""The HTTP/1.1 connection: uvicorn's httptools protocol with the limits it lacks.

uvicorn bounds nothing on the way in when it parses with httptools: a client may send
headers without end (the parser keeps them in memory, growing them by concatenation),
as many header lines as it likes, or hold a connection open by sending a request a
byte at a time, or not at all. :class:`BoundedHttpProtocol` closes these:

- the request line and header section together may be at most ``max_header_bytes``
  (default 64 KiB, the size Application Load Balancer accepts for a whole header
  section: https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html)
  and hold at most ``max_header_count`` header lines (default 100; botocore sends about
  ten); beyond either the answer is ``431 Request Header Fields Too Large`` and the
  connection is closed before more is read;
- the whole header section must arrive within ``header_timeout`` seconds (default 10)
  of the connection opening or of the request's first byte, and the whole body within
  ``body_timeout`` seconds (default 30) after the headers; otherwise the answer is
  ``408 Request Timeout`` (when no response has started) and the connection is closed.
  Between requests on a kept-alive connection uvicorn's own keep-alive timeout applies;
- after the headers the parser is fed at most ``max_body_bytes`` (the application's
  limit, 1 MiB) plus ``max_header_bytes`` (chunk framing and a trailer), else ``413``
  and close; a ``Content-Length`` over ``max_body_bytes`` is not read at all (the
  application answers RequestEntityTooLarge from the header, the connection closes after);
- chunked trailers are dropped: uvicorn would append them to the request's headers (the
  list the application already holds), unbounded, and after the application read them;
- at most :data:`MAX_PIPELINED` requests wait behind the one being answered;
- a client that stops reading its answers (the transport pauses writing) has
  ``body_timeout`` seconds to read again, else the connection is aborted: otherwise a
  client that pipelines requests and reads nothing holds its connection for ever, since
  uvicorn waits for the buffer to drain and ``close()`` waits for it too. Refusals and
  timeouts abort, rather than close, a connection with unread answers;
- at most ``max_connections`` connections are open at once (default 1000): one beyond
  is answered ``503 Service Unavailable`` and closed before anything is read, so a
  flood of idle connections cannot use up the process's file descriptors. A TLS
  connection reaches the protocol only once its handshake is done: :func:`loop_factory`
  gives the listener ``ssl_handshake_timeout = header_timeout`` so that those still
  shaking hands are bounded in time (uvloop's default is 60 s);
- a TLS connection being closed waits at most :data:`TLS_SHUTDOWN_TIMEOUT` for the
  peer's ``close_notify`` (uvloop's default is 30 s). An SDK's idle pooled connection
  never answers one, so with the default every such connection kept a graceful stop
  waiting 30 s, past which a service manager kills the process; and any client could
  hold a closing connection that long. RFC 8446 (section 6.1) lets the side that
  closes leave without waiting for the answer.

These are deadlines, not idle timers, so a client that trickles one byte a second
cannot keep a connection (and its buffers) alive past them.
"""

from __future__ import annotations

import asyncio
import fcntl
import sys
import termios
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import uvloop
from uvicorn._types import ASGI3Application
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle


@dataclass(frozen=True)
class HttpLimits:
    max_header_bytes: int = 64 * 1024
    max_header_count: int = 100
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 1000
    max_body_bytes: int = 1 << 20  # the application's own limit (Settings.max_body_bytes)


IDLE, HEADERS, BODY = "idle", "headers", "body"

# Requests a client may queue behind the one being answered (HTTP/1.1 pipelining; no
# AWS SDK pipelines at all). A client that sends more in one go has the queued ones
# answered and the connection closed after them; the rest of what it sent is dropped.
MAX_PIPELINED = 32

# A client whose answers wait unread must take at least this much of them per body
# deadline (64 KiB per 30 s by default, ~2 KB/s) to keep its connection: a slow but
# steady reader of a large answer keeps it, one that stopped reading does not.
MIN_WRITE_PROGRESS = 64 * 1024
_PIPELINE_FULL = -1  # a _refusal that answers nothing more (see send_400_response)


def declared_length(headers: list[tuple[bytes, bytes]]) -> int:
    """The largest Content-Length among ``headers`` (lower-cased names), 0 if none.
    The parser has already refused a malformed or conflicting one."""
    declared = 0
    for name, value in headers:  # a plain loop: most requests have none, or one
        if name == b"content-length":
            value = value.strip()
            if value.isdigit() and int(value) > declared:
                declared = int(value)
    return declared


class _HeaderLimit(Exception):
    """Raised from a parser callback to stop parsing a request (``_refusal`` says why)."""


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with size, count and time limits."""

    limits: ClassVar[HttpLimits] = HttpLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._phase = IDLE
        self._header_bytes = 0  # bytes of the current request line and headers seen so far
        self._body_bytes = 0  # bytes fed to the parser since the current request's headers ended
        self._fresh = False  # the bytes counted so far began at the start of a request
        self._refusal: int | None = None
        self._discarding = False  # the rest of what the client sends is dropped unread
        self._oversized = False  # the current request declared a body over the limit: dropped unread
        self._unread_body = 0  # of an oversized body: what the client has yet to send
        self._deadline: asyncio.TimerHandle | None = None
        self._write_deadline: asyncio.TimerHandle | None = None
        self._unsent = 0  # the write buffer's size when the write deadline was armed
        self._running: RequestResponseCycle | None = None  # the request being answered

    @classmethod
    def with_limits(cls, limits: HttpLimits) -> type[BoundedHttpProtocol]:
        """A protocol class for uvicorn's ``Config(http=...)`` that applies ``limits``."""
        return type("BoundedHttpProtocol", (cls,), {"limits": limits})

    @property
    def _body_cap(self) -> int:
        """Bytes the parser may see after a request's headers: the largest body the
        application accepts, plus room for chunk framing and a (discarded) trailer."""
        return self.limits.max_body_bytes + self.limits.max_header_bytes

    # -- connection ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self._refuse(503)
            return
        self._arm(self.limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._resumed()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser no more header bytes, and no more body bytes, than the limits allow.

        Bytes are counted towards a request's headers from the read in which it starts
        (exactly, when that read starts with it) until its headers end. A request that
        starts in the middle of a read (pipelined behind another) is counted from the
        next read on, so its headers may exceed the limit by at most one read before it
        is refused; no request is ever refused below the limit. After the headers, the
        parser is fed at most :attr:`_body_cap` bytes until the request ends (413 beyond).
        """
        while data and not self.transport.is_closing() and not self._discarding:
            if self._oversized:
                self._drop_oversized(len(data))
                return
            if self._phase == BODY:
                room = self._body_cap - self._body_bytes
                if room <= 0:
                    self._refuse(413)
                    return
                piece, data = data[:room], data[room:]
                self._body_bytes += len(piece)
                super().data_received(piece)
                continue
            if self._phase == IDLE:
                self._header_bytes = 0
                self._fresh = True
                if self._deadline is None:  # the next request on a kept-alive connection
                    self._arm(self.limits.header_timeout)
            room = self.limits.max_header_bytes - self._header_bytes
            if room <= 0:
                self._refuse(431)
                return
            piece, data = data[:room], data[room:]
            self._header_bytes += len(piece)
            super().data_received(piece)
            self._fresh = False
        if self._phase == HEADERS and self._header_bytes >= self.limits.max_header_bytes:
            self._refuse(431)
        elif self._phase == BODY and self._body_bytes >= self._body_cap:
            self._refuse(413)

    # -- parser callbacks ------------------------------------------------------------------
    def on_message_begin(self) -> None:
        if len(self.pipeline) >= MAX_PIPELINED:
            self._refusal = _PIPELINE_FULL
            raise _HeaderLimit()
        super().on_message_begin()
        self._oversized = False
        if not self._fresh:
            self._header_bytes = 0
        self._fresh = False
        self._phase = HEADERS
        if self._deadline is None:
            self._arm(self.limits.header_timeout)

    def on_header(self, name: bytes, value: bytes) -> None:
        """A header line. Lines after a chunked body (a trailer) are dropped: they would
        otherwise be appended to the request's headers after the application saw them,
        unbounded by the header limits. Nothing in IAM, STS or Organizations uses trailers."""
        if self._phase == BODY:
            return
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        # Counted once the section is complete (no cost per header line): until then
        # the byte limit bounds what the lines can hold.
        if len(self.headers) > self.limits.max_header_count:
            self._refusal = 431
            raise _HeaderLimit()
        self._phase = BODY
        self._header_bytes = 0
        self._body_bytes = 0
        self._arm(self.limits.body_timeout)
        super().on_headers_complete()
        declared = declared_length(self.headers)
        if declared > self.limits.max_body_bytes:
            # A declared body larger than the application accepts is not read: the
            # application answers RequestEntityTooLarge from the header alone (in the
            # format the client expects), and what the client sends is dropped unparsed.
            # The connection closes once the client has sent its body (or after the
            # keep-alive timeout): closing while it is still sending would reset the
            # connection and lose the answer before the client reads it.
            self._oversized = True
            self._unread_body = declared
            self.cycle.keep_alive = True  # even for "Connection: close": the close is ours, once drained

    def _drop_oversized(self, size: int) -> None:
        self._unread_body -= size
        if self._unread_body <= 0 and (self.cycle is None or self.cycle.response_complete):
            self.transport.close()

    def on_message_complete(self) -> None:
        self._phase = IDLE
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        if self._oversized:
            self._disarm()  # no body deadline: the body is not awaited, only drained
            if self._unread_body <= 0:
                self.transport.close()
                return
        super().on_response_complete()
        if self.pipeline:
            # uvicorn resumes reading after each response even while requests are still
            # queued: read no more until they are answered, so the queue cannot grow.
            self.flow.pause_reading()
        elif self.transport.is_closing() and self.transport.get_write_buffer_size():
            self._arm_write_deadline()  # closed after its last response, which is unread

    # -- writing -------------------------------------------------------------------------------
    def pause_writing(self) -> None:
        """The client is not reading what it is sent fast enough: it has until the body
        deadline to make room, or the connection is aborted (its unsent bytes dropped).
        Without this, a client that pipelines requests and reads nothing keeps its
        connection, and its buffers, forever."""
        super().pause_writing()
        self._arm_write_deadline()

    def resume_writing(self) -> None:
        self._resumed()
        super().resume_writing()

    def _resumed(self) -> None:
        if self._write_deadline is not None:
            self._write_deadline.cancel()
            self._write_deadline = None

    def _arm_write_deadline(self) -> None:
        if self._write_deadline is None:
            self._unsent = self._unsent_bytes()
            self._write_deadline = self.loop.call_later(self.limits.body_timeout, self._write_stalled)

    def _unsent_bytes(self) -> int:
        """What the client has yet to take: the transport's buffer and the kernel's send
        queue (TIOCOUTQ, on Linux). The kernel's part matters: the transport writes no
        more until the socket has room, and a loopback or LAN socket holds megabytes, so
        the buffer alone can stand still for a long time while the client reads steadily."""
        unsent = self.transport.get_write_buffer_size()
        sock = self.transport.get_extra_info("socket")
        try:
            queued = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
        except (AttributeError, OSError, ValueError):  # no socket, or no such query here
            return int(unsent)
        return int(unsent) + int.from_bytes(queued, sys.byteorder, signed=True)

    def _write_stalled(self) -> None:
        """A deadline on progress, not on completion: a client that took at least
        ``MIN_WRITE_PROGRESS`` bytes since the deadline was armed gets another period (a
        large answer to a slow but steady reader is not cut off); one that took less is
        dropped."""
        self._write_deadline = None
        unsent = self._unsent_bytes()
        if unsent and self._unsent - unsent >= MIN_WRITE_PROGRESS:
            self._arm_write_deadline()
            return
        self._disarm()
        self._abort()

    def _abort(self) -> None:
        """Drop the connection and what is unsent. The handle is closed at once, before
        ``connection_lost`` runs: a response under way is marked disconnected now so that
        its next write is skipped rather than failing on the closed handle."""
        for cycle in (self._running, self.cycle):
            if cycle is not None and not cycle.response_complete:
                cycle.disconnected = True
        self.transport.abort()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        self._running = cycle  # self.cycle is the newest request, maybe still queued behind it
        super()._start_asgi_task(cycle, app)

    def timeout_keep_alive_handler(self) -> None:
        super().timeout_keep_alive_handler()
        if self.transport.get_write_buffer_size():
            # Idle between requests with answers still unread: the close waits for them,
            # for at most the body deadline.
            self._arm_write_deadline()

    # -- refusing ----------------------------------------------------------------------------
    def send_400_response(self, msg: str) -> None:
        """uvicorn calls this when the parser fails, including when a callback above
        raised to stop it: then the answer is the refusal it chose."""
        if self._refusal == _PIPELINE_FULL:
            # Answer what is queued, then close; drop the rest unread.
            self._discarding = True
            self._disarm()
            self.flow.pause_reading()
            self.cycle.keep_alive = False
            return
        if self._refusal is not None:
            self._refuse(self._refusal)
            return
        super().send_400_response(msg)

    def _refuse(self, status: int) -> None:
        """Answer ``status`` (unless a response is already under way) and close.

        A client that leaves what it was sent unread gets no answer: its connection is
        aborted, since a close would wait for it to read."""
        self._disarm()
        if self.transport.is_closing():
            if self.transport.get_write_buffer_size():
                self._abort()
            return
        if self.transport.get_write_buffer_size():
            self._abort()
            return
        cycle = self.cycle
        quiet = cycle is not None and cycle.response_started if self._phase == BODY else cycle is not None and not cycle.response_complete
        if cycle is not None:
            cycle.keep_alive = False
        if not quiet:
            reason = STATUS_LINE[status].split(b" ", 2)[2].strip()
            self.transport.write(
                b"".join(
                    [
                        STATUS_LINE[status],
                        b"content-type: text/plain; charset=utf-8\r\n",
                        b"content-length: ",
                        str(len(reason)).encode("ascii"),
                        b"\r\nconnection: close\r\n\r\n",
                        reason,
                    ]
                )
            )
        if self.transport.get_write_buffer_size():
            self._abort()  # not even the refusal could be sent: the client is not reading
        else:
            self.transport.close()

    def _timed_out(self) -> None:
        self._deadline = None
        self._refuse(408)

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None


TLS_SHUTDOWN_TIMEOUT = 2.0
"""Seconds a closing TLS connection waits for the peer's ``close_notify`` before it is
aborted: a peer that reads answers at once; an idle pooled one never does."""


class _HandshakeDeadlineLoop(uvloop.Loop):
    """uvloop's loop, whose TLS listeners give a client ``handshake_timeout`` seconds
    (not uvloop's default 60) to finish the handshake and a closing connection
    ``TLS_SHUTDOWN_TIMEOUT`` (not 30) for the peer's ``close_notify``. The protocol above
    only sees a TLS connection once its handshake is done, so the first deadline is what
    bounds the connections that are still shaking hands (they are not yet counted by
    ``max_connections``)."""

    handshake_timeout: ClassVar[float] = 10.0

    async def create_server(self, *args: Any, **kwargs: Any) -> asyncio.AbstractServer:  # type: ignore[override]
        if kwargs.get("ssl") is not None:
            if kwargs.get("ssl_handshake_timeout") is None:
                kwargs["ssl_handshake_timeout"] = self.handshake_timeout
            if kwargs.get("ssl_shutdown_timeout") is None:
                kwargs["ssl_shutdown_timeout"] = TLS_SHUTDOWN_TIMEOUT
        return await super().create_server(*args, **kwargs)


def loop_factory(limits: HttpLimits) -> Callable[[], asyncio.AbstractEventLoop]:
    """A value for uvicorn's ``Config(loop=...)`` (which takes a loop factory in place of
    a name): uvloop, with TLS handshakes held to ``limits.header_timeout``."""
    return type("HandshakeDeadlineLoop", (_HandshakeDeadlineLoop,), {"handshake_timeout": limits.header_timeout})

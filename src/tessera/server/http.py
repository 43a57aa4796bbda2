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
- at most ``max_connections`` connections are open at once (default 1000): one beyond
  is answered ``503 Service Unavailable`` and closed before anything is read, so a
  flood of idle connections cannot use up the process's file descriptors.

These are deadlines, not idle timers, so a client that trickles one byte a second
cannot keep a connection (and its buffers) alive past them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol


@dataclass(frozen=True)
class HttpLimits:
    max_header_bytes: int = 64 * 1024
    max_header_count: int = 100
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 1000


IDLE, HEADERS, BODY = "idle", "headers", "body"


class _HeaderLimit(Exception):
    """Raised from a parser callback to stop parsing a request whose headers are too big."""


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header-size, header-count and time limits."""

    limits: ClassVar[HttpLimits] = HttpLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._phase = IDLE
        self._header_bytes = 0  # bytes of the current request line and headers seen so far
        self._fresh = False  # the bytes counted so far began at the start of a request
        self._refusal: int | None = None
        self._deadline: asyncio.TimerHandle | None = None

    @classmethod
    def with_limits(cls, limits: HttpLimits) -> type[BoundedHttpProtocol]:
        """A protocol class for uvicorn's ``Config(http=...)`` that applies ``limits``."""
        return type("BoundedHttpProtocol", (cls,), {"limits": limits})

    # -- connection ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self._refuse(503)
            return
        self._arm(self.limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser no more header bytes than the limit allows.

        Bytes are counted towards a request's headers from the read in which it starts
        (exactly, when that read starts with it) until its headers end. A request that
        starts in the middle of a read (pipelined behind another) is counted from the
        next read on, so its headers may exceed the limit by at most one read before it
        is refused; no request is ever refused below the limit.
        """
        while data and not self.transport.is_closing():
            if self._phase == BODY:
                super().data_received(data)
                return
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

    # -- parser callbacks ------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._fresh:
            self._header_bytes = 0
        self._fresh = False
        self._phase = HEADERS
        if self._deadline is None:
            self._arm(self.limits.header_timeout)

    def on_headers_complete(self) -> None:
        # Counted once the section is complete (no cost per header line): until then
        # the byte limit bounds what the lines can hold.
        if len(self.headers) > self.limits.max_header_count:
            self._refusal = 431
            raise _HeaderLimit()
        self._phase = BODY
        self._header_bytes = 0
        self._arm(self.limits.body_timeout)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._phase = IDLE
        self._disarm()
        super().on_message_complete()

    # -- refusing ----------------------------------------------------------------------------
    def send_400_response(self, msg: str) -> None:
        """uvicorn calls this when the parser fails, including when a callback above
        raised to stop it: then the answer is the refusal it chose."""
        if self._refusal is not None:
            self._refuse(self._refusal)
            return
        super().send_400_response(msg)

    def _refuse(self, status: int) -> None:
        """Answer ``status`` (unless a response is already under way) and close."""
        self._disarm()
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if self._phase == BODY:
            quiet = cycle is not None and cycle.response_started
        else:
            quiet = cycle is not None and not cycle.response_complete
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

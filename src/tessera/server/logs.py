"""Structured logs: ``text`` for people, ``json`` (one object per line) for collectors.

Every record made while serving a request carries the ``request_id`` the client sees in
``x-amzn-RequestId``. Secrets are never passed to a logger in the first place.

The access log (one line per request) is written in batches: a ``write`` to stderr per
request is a system call that lets go of the GIL, and with the audit writer runnable the
request path then waits a switch interval to get it back (``python -m bench load --only
tessera --access-log``: 7 641 GetCallerIdentity/s at c=16 with per-line writes, 8 405 in
batches). Every other record, and any warning, is written at once, after whatever
access lines are pending, so the order holds. Lines held when the process is killed (at
most 200 ms of them) are lost; a graceful stop writes them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import threading
from typing import TextIO

ACCESS_LOGGER = "tessera.access"

EXTRA_FIELDS = ("request_id", "service", "operation", "status", "principal", "source_ip", "duration_ms", "error_code")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in EXTRA_FIELDS:
            value = getattr(record, name, None)
            if value not in (None, ""):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid = getattr(record, "request_id", None)
        if rid:
            parts = [f"request_id={rid}"]
            for name in EXTRA_FIELDS[1:]:
                value = getattr(record, name, None)
                if value not in (None, ""):
                    parts.append(f"{name}={value}")
            line = f"{line} {' '.join(parts)}"
        return line


class BatchingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that holds records of the ``batched`` loggers below WARNING
    for up to ``interval`` seconds (or ``limit`` characters) and writes them in one
    call; other records flush what is held and are written straight away."""

    def __init__(
        self,
        stream: TextIO,
        *,
        interval: float = 0.2,
        limit: int = 64 * 1024,
        batched: frozenset[str] = frozenset({ACCESS_LOGGER}),
    ) -> None:
        super().__init__(stream)
        self.interval = interval
        self.limit = limit
        self.batched = batched
        self._pending: list[str] = []
        self._size = 0
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None

    def emit(self, record: logging.LogRecord) -> None:
        """Called with the handler's lock held (``Handler.handle``)."""
        try:
            line = self.format(record) + self.terminator
            self._pending.append(line)
            self._size += len(line)
            if record.name in self.batched and record.levelno < logging.WARNING and self._size < self.limit:
                self._start_flusher()
            else:
                self._write_pending()
        except Exception:  # logging must never break the caller
            self.handleError(record)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self._pending:
                self._write_pending()
            else:
                super().flush()

    def close(self) -> None:
        """Write what is held and stop the flusher. No join: ``logging.shutdown`` calls
        this holding the handler's lock, which a flusher waking now would wait for."""
        self._stop.set()
        self.flush()
        super().close()

    def _write_pending(self) -> None:
        text = "".join(self._pending)
        self._pending.clear()
        self._size = 0
        self.stream.write(text)
        super().flush()

    def _start_flusher(self) -> None:
        if self._flusher is None and not self._stop.is_set():
            self._flusher = threading.Thread(target=self._flush_periodically, name="tessera-log", daemon=True)
            self._flusher.start()

    def _flush_periodically(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception:  # the stream failed (those lines are lost, as StreamHandler
                continue  # loses a record); keep flushing, it may recover


def configure(log_format: str, level: str) -> None:
    # The formats use none of what CPython would otherwise gather for every record: the
    # calling frame (a walk up the stack), thread and process names (the "Optimization"
    # section of the logging HOWTO, which names the private ``logging._srcfile`` as the switch).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = BatchingHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True

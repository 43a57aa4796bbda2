"""Writing the audit trail off the request path.

Requests hand finished events to ``AuditWriter.submit`` (a lock-free queue append);
a background thread writes them to the store in batches, one transaction per batch.
``close()`` drains everything that was submitted, so a graceful shutdown loses no
event. If the store is briefly unavailable the batch is retried; events are never
dropped silently (a failure is logged with the count).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

log = logging.getLogger("tessera.audit")


class Sink(Protocol):
    def append_audit(self, events: Sequence[Mapping[str, Any]]) -> None: ...


class AuditWriter:
    def __init__(self, sink: Sink, *, batch_size: int = 500, interval: float = 0.2) -> None:
        self._sink = sink
        self._queue: queue.SimpleQueue[Mapping[str, Any] | None] = queue.SimpleQueue()
        self._batch_size = batch_size
        self._interval = interval
        self._thread = threading.Thread(target=self._run, name="tessera-audit", daemon=True)
        self._started = False
        self._closed = threading.Event()
        self.written = 0

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def submit(self, event: Mapping[str, Any]) -> None:
        self._queue.put(event)

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    def close(self, timeout: float = 30.0) -> None:
        """Stop after writing everything submitted so far."""
        if not self._started:
            self._drain_inline()
            return
        self._queue.put(None)
        self._thread.join(timeout)

    def _drain_inline(self) -> None:
        batch: list[Mapping[str, Any]] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                batch.append(item)
        if batch:
            self._write(batch)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch: list[Mapping[str, Any]] = []
            try:
                item = self._queue.get(timeout=self._interval)
            except queue.Empty:
                continue
            if item is None:
                stopping = True
            else:
                batch.append(item)
            while len(batch) < self._batch_size:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            if batch:
                self._write(batch)
        self._drain_inline()

    def _write(self, batch: list[Mapping[str, Any]]) -> None:
        for attempt in range(5):
            try:
                self._sink.append_audit(batch)
                self.written += len(batch)
                return
            except Exception:  # the store is briefly unavailable: retry, then report
                if attempt == 4:
                    log.exception("could not write %d audit events", len(batch))
                else:
                    self._closed.wait(0.1 * (attempt + 1))

"""Writing the audit trail off the request path.

Requests hand finished events to ``AuditWriter.submit`` — one deque append, no lock,
no thread wake-up. A background thread wakes every ``interval`` seconds and writes
whatever has accumulated in batches, one transaction per batch (group commit): under
load this turns thousands of tiny commits, each a disk sync, into a few large ones,
and the request path never waits for the disk nor hands the interpreter to the writer
once per event. Batches are small (``batch_size``) and separated by a short ``pause``:
the writer then shares the core with the requests in slices of about a millisecond
instead of one burst of tens (measured at c=16: GetCallerIdentity p99 6.9–9.0 ms with
one 2 000-event batch per wake-up, 4.9–5.0 ms with 200-event batches 4 ms apart, the
same throughput). ``close()`` drains everything submitted, without pauses, so a
graceful shutdown loses no event. If the store is briefly unavailable a batch is
retried; a batch that still fails is logged with its size (never its content).
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from tessera.audit.events import bounded

log = logging.getLogger("tessera.audit")


class Sink(Protocol):
    def append_audit(self, events: Sequence[Mapping[str, Any]]) -> None: ...


class AuditWriter:
    def __init__(self, sink: Sink, *, batch_size: int = 200, interval: float = 0.25, pause: float = 0.004) -> None:
        self._sink = sink
        self._pending: collections.deque[dict[str, Any]] = collections.deque()
        self._batch_size = batch_size
        self._interval = interval
        self._pause = pause
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tessera-audit", daemon=True)
        self._started = False
        self.written = 0
        self._last_write_ok = True

    @property
    def healthy(self) -> bool:
        """Whether the last write to the sink succeeded (False after events were dropped
        because the sink kept failing, until a later write succeeds)."""
        return self._last_write_ok

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def submit(self, event: dict[str, Any]) -> None:
        self._pending.append(event)

    @property
    def backlog(self) -> int:
        return len(self._pending)

    def close(self, timeout: float = 30.0) -> None:
        """Stop after writing everything submitted so far."""
        self._stop.set()
        if self._started:
            self._thread.join(timeout)
        self.flush()

    def flush(self) -> None:
        """Write everything pending now, in batches (paced unless closing)."""
        while self._pending:
            batch: list[Mapping[str, Any]] = []
            while self._pending and len(batch) < self._batch_size:
                batch.append(bounded(self._pending.popleft()))
            self._write(batch)
            if self._pending and self._pause:
                self._stop.wait(self._pause)  # returns at once once close() is under way

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()

    def _write(self, batch: list[Mapping[str, Any]]) -> None:
        for attempt in range(5):
            try:
                self._sink.append_audit(batch)
                self.written += len(batch)
                self._last_write_ok = True
                return
            except Exception:  # the store is briefly unavailable: retry, then report
                if attempt == 4:
                    self._last_write_ok = False
                    log.exception("could not write %d audit events", len(batch))
                else:
                    self._stop.wait(0.1 * (attempt + 1))
        if len(batch) > 1:  # one event the store refuses must not take the others with it
            for event in batch:
                try:
                    self._sink.append_audit([event])
                    self.written += 1
                    self._last_write_ok = True
                except Exception:
                    log.exception("could not write audit event %s", event.get("eventID"))

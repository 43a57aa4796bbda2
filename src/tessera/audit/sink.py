"""Writing the audit trail: group commit, nothing acknowledged lost.

Three kinds of event reach the store, each as durable as what it records:

* A mutating call's event is inserted by the call's own write transaction
  (``services.request.OperationContext.write``): committed with the change or rolled
  back with it. After the answer the writer replaces it with its completed form
  (``responseElements``), keyed by ``eventID``.
* An event that must be durable before the answer — the call issued credentials —
  goes through ``submit_durable``: the writer is woken at once and the request awaits
  the commit of the batch that holds it (group commit: every event submitted while one
  batch commits goes into the next). If that commit fails the future fails, and the
  request is answered 503 instead of the credentials.
* Every other event (reads, failures) is handed to ``submit`` after the answer — one
  deque append, no lock, no thread wake-up — and written within ``interval`` seconds.

Batches are small (``batch_size``) and, unless a request awaits one, separated by a
short ``pause``, so the writer shares the core with the requests in slices of about a
millisecond (measured at c=16: GetCallerIdentity p99 6.9–9.0 ms with one 2 000-event
batch per wake-up, 4.9–5.0 ms with 200-event batches 4 ms apart).

When the store refuses a write, queued events stay queued (in order) and are written
again every ``retry_interval`` seconds until it takes them; with nothing queued the writer
probes with an empty write. Meanwhile ``accepting`` is False — as it is when the backlog
reaches ``max_backlog`` — and the server refuses new requests (503) instead of serving
them unaudited or letting the queue grow without bound. An event the store refuses
for itself (``ValueError``/``TypeError``: it cannot be encoded or lacks a field) does not
hold the others back: it is logged by id and set aside. ``close()`` drains everything
submitted, without pauses.
"""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tessera.audit.events import bounded_encoded

log = logging.getLogger("tessera.audit")

UNAVAILABLE_MESSAGE = "The audit trail is unavailable: requests are refused until it can be written again. Retry later."
"""What a client refused because the trail cannot be written is told (503 ServiceUnavailable)."""


class Sink(Protocol):
    def append_audit(self, events: Sequence[Mapping[str, Any]]) -> None: ...


class AuditUnavailable(Exception):
    """The batch holding a durable event could not be committed."""


class _RefusedEvent(Exception):
    """The store refused one event for itself (not an outage)."""


@dataclass(slots=True)
class _Entry:
    event: dict[str, Any]
    done: concurrent.futures.Future[None] | None = None  # set for a durable event


# Errors that say an event itself cannot be stored; anything else means the store is down.
_EVENT_ERRORS = (ValueError, TypeError)


class AuditWriter:
    def __init__(
        self,
        sink: Sink,
        *,
        batch_size: int = 200,
        interval: float = 0.25,
        pause: float = 0.004,
        max_backlog: int = 20_000,
        retry_interval: float = 0.5,
        close_timeout: float = 30.0,
    ) -> None:
        self._sink = sink
        self._pending: collections.deque[_Entry] = collections.deque()  # answered requests
        self._urgent: collections.deque[_Entry] = collections.deque()  # awaited by a request
        self._batch_size = batch_size
        self._interval = interval
        self._pause = pause
        self._retry_interval = retry_interval
        self._close_timeout = close_timeout
        self.max_backlog = max_backlog
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one flush at a time (the thread, or close/tests)
        self._thread = threading.Thread(target=self._run, name="tessera-audit", daemon=True)
        self._started = False
        self.written = 0
        self.commits = 0
        self._last_write_ok = True

    @property
    def healthy(self) -> bool:
        """Whether the last write to the sink succeeded (False from a write the store
        refused until one succeeds)."""
        return self._last_write_ok

    @property
    def accepting(self) -> bool:
        """Whether new requests may be served: the trail is being written and the
        backlog is under its bound."""
        return self._last_write_ok and len(self._pending) + len(self._urgent) < self.max_backlog

    @property
    def backlog(self) -> int:
        return len(self._pending) + len(self._urgent)

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def submit(self, event: dict[str, Any]) -> None:
        """Queue ``event`` (its request is answered): written within ``interval``."""
        self._pending.append(_Entry(event))

    def submit_durable(self, event: dict[str, Any]) -> concurrent.futures.Future[None]:
        """Queue ``event`` for the next commit, at once; the future completes when that
        commit has, or fails with ``AuditUnavailable``."""
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        if self._stop.is_set():
            done.set_exception(AuditUnavailable("the audit writer is closed"))
            return done
        self.start()  # a server starts it at start-up; an embedded app on first need
        self._urgent.append(_Entry(event, done))
        self._wake.set()
        return done

    def close(self) -> None:
        """Stop after writing everything submitted so far (retrying a store that is down
        for up to ``close_timeout`` seconds)."""
        self._stop.set()
        self._wake.set()
        if self._started:
            self._thread.join(self._close_timeout)
        deadline = time.monotonic() + self._close_timeout
        while not self.flush() and self.backlog and time.monotonic() < deadline:
            time.sleep(self._retry_interval)
        if self.backlog:
            log.error("%d audit events could not be written before shutdown", self.backlog)
            self._fail_urgent()

    def flush(self) -> bool:
        """Write everything queued now, in batches (paced unless a request awaits one or
        the writer is closing); False when the store refused a write (the events stay
        queued)."""
        with self._lock:
            while self._urgent or self._pending:
                batch = self._take()
                if not self._write(batch):
                    self._requeue(batch)
                    return False
                if self._pending and not self._urgent and self._pause:
                    self._stop.wait(self._pause)  # returns at once once close() is under way
            if not self._last_write_ok:
                self._probe()
            return self._last_write_ok

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval if self._last_write_ok else self._retry_interval)
            self._wake.clear()
            if not self.flush():
                self._fail_urgent()  # a request awaiting a commit is answered now, not after retries
                self._stop.wait(self._retry_interval)

    def _take(self) -> list[_Entry]:
        batch: list[_Entry] = []
        for queue in (self._urgent, self._pending):
            while queue and len(batch) < self._batch_size:
                batch.append(queue.popleft())
        return batch

    def _requeue(self, batch: list[_Entry]) -> None:
        """Put a batch the store refused back at the front, in order: durable events to
        be failed (their requests are refused), answered ones to be written again."""
        for entry in reversed(batch):
            (self._urgent if entry.done is not None else self._pending).appendleft(entry)

    def _fail_urgent(self) -> None:
        while self._urgent:
            entry = self._urgent.popleft()
            if entry.done is not None and not entry.done.done():
                entry.done.set_exception(AuditUnavailable("the audit trail could not be written"))

    def _write(self, batch: list[_Entry]) -> bool:
        """Write ``batch``; False when the store is down (nothing of it is set aside)."""
        try:
            self._append([bounded_encoded(entry.event) for entry in batch])
        except _RefusedEvent:
            return self._write_one_by_one(batch)
        except Exception as error:
            self._down(error, len(batch))
            return False
        self._succeeded(batch)
        return True

    def _write_one_by_one(self, batch: list[_Entry]) -> bool:
        """One event the store refuses must not take the others with it."""
        for index, entry in enumerate(batch):
            try:
                self._append([bounded_encoded(entry.event)])
            except _RefusedEvent:
                log.exception("could not write audit event %s", entry.event.get("eventID"))
                if entry.done is not None:
                    entry.done.set_exception(AuditUnavailable("the audit event could not be written"))
                continue
            except Exception as error:
                self._down(error, len(batch) - index)
                del batch[:index]  # what is left goes back to the queue
                return False
            self._succeeded([entry])
        return True

    def _append(self, events: list[Mapping[str, Any]]) -> None:
        try:
            self._sink.append_audit(events)
        except _EVENT_ERRORS as error:
            raise _RefusedEvent() from error

    def _probe(self) -> None:
        """With nothing queued, find out whether the store takes writes again."""
        try:
            self._sink.append_audit([])
        except Exception as error:
            self._down(error, 0)
        else:
            log.warning("the audit trail can be written again")
            self._last_write_ok = True

    def _succeeded(self, batch: list[_Entry]) -> None:
        if not self._last_write_ok:
            log.warning("the audit trail can be written again")
        self._last_write_ok = True
        self.written += len(batch)
        self.commits += 1
        for entry in batch:
            if entry.done is not None and not entry.done.done():
                entry.done.set_result(None)

    def _down(self, error: Exception, waiting: int) -> None:
        if self._last_write_ok:
            log.error("the audit trail cannot be written (%s); %d events wait, requests are refused", type(error).__name__, waiting)
        self._last_write_ok = False

"""``tessera serve --workers N``: N server processes answering on one port.

The parent bootstraps the data directory and binds the listening sockets once, then
forks the workers. Each worker slot has a socket of its own, all bound to the one
address with ``SO_REUSEPORT``, so the kernel spreads new connections evenly over the
workers (one socket shared by all would hand most of them to whichever worker waited
last). The parent keeps every socket open: connections queued on the socket of a worker
that died are answered by its replacement, not reset. The parent serves nothing; it
supervises:

* a worker that exits while the server is running is replaced (after a pause when it
  died within ``QUICK_DEATH`` seconds of starting, so a worker that cannot start does
  not spin);
* ``SIGTERM`` and ``SIGINT`` are passed on to every worker as ``SIGTERM``, the graceful
  stop (in-flight requests finish, each worker writes its audit queue and last-use
  notes), and the parent exits once all have; ``SIGHUP`` is passed on as is (the
  workers reload their TLS certificate).

Each worker keeps its own in-memory view and learns of the others' writes as it learns
of other nodes' (``store/notify.py``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType

log = logging.getLogger("tessera")

QUICK_DEATH = 1.0
"""A worker that dies within this many seconds of its start is replaced only after as long."""


class Supervisor:
    """Forks ``count`` workers, each running ``serve(slot)`` (``slot`` from 0 to
    ``count - 1``, kept by its replacements; the return value is the worker's exit code)."""

    def __init__(self, count: int, serve: Callable[[int], int]) -> None:
        self._count = count
        self._serve = serve
        self._workers: dict[int, tuple[int, float]] = {}  # pid → (slot, when it started, monotonic)
        self._stopping = False

    def run(self) -> int:
        """Supervise until stopped; 0 when every worker stopped cleanly."""
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, self._forward)
        status = 0
        try:
            for slot in range(self._count):
                self._spawn(slot)
            while self._workers:
                pid, code = os.waitpid(-1, 0)  # resumed after a signal's handler (PEP 475)
                worker = self._workers.pop(pid, None)
                if worker is None:
                    continue
                slot, started = worker
                if self._stopping:
                    status = max(status, 0 if os.waitstatus_to_exitcode(code) == 0 else 1)
                    continue
                log.warning("worker %d exited (%s); starting another", pid, _describe(code))
                if time.monotonic() - started < QUICK_DEATH:
                    time.sleep(QUICK_DEATH)
                if not self._stopping:
                    self._spawn(slot)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return status

    def _spawn(self, slot: int) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                    signal.signal(sig, signal.SIG_DFL)
                code = self._serve(slot)
            except BaseException:
                log.exception("worker %d failed", os.getpid())
            finally:
                logging.shutdown()
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        self._workers[pid] = (slot, time.monotonic())
        log.info("worker %d started", pid)
        if self._stopping:  # a stop signal arrived while it was being forked
            os.kill(pid, signal.SIGTERM)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True
        for pid in list(self._workers):
            _signal(pid, signal.SIGTERM)

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        for pid in list(self._workers):
            _signal(pid, signum)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # exited, not yet reaped
        os.kill(pid, signum)


def _describe(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    return f"killed by signal {-code}" if code < 0 else f"exit code {code}"

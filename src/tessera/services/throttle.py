"""Online-guessing limits: a bounded, clock-injected failure limiter.

A secret that a client can try online (an MFA code, later a console password) is
guarded by a ``FailureLimiter`` keyed by every party the attempt concerns — the MFA
device and the calling principal — so neither spreading guesses over callers nor over
devices escapes it. The rules, per key:

* an attempt first *reserves* a slot; a key with ``max_failures`` failures (counting
  attempts still in flight) inside the sliding ``window`` is refused, so concurrent
  requests cannot overshoot the limit;
* the ``max_failures``-th failure inside the window locks the key for ``lockout``,
  doubled for each further lock-out in a row (``strikes``) up to ``max_lockout``;
  strikes are forgotten once the key has been quiet for ``max_lockout``;
* while a key is locked every attempt is refused *before* the secret is looked at,
  so the refusal says nothing about whether the guess was right (a right code is
  refused too), and refused attempts do not extend the lock-out;
* successes are not counted and do not reset anything (an attacker holding one valid
  factor cannot buy back guesses with it).

AWS throttles failed MFA attempts without documenting numbers; refusals use the
``Throttling`` error AWS's Query APIs return for throttled calls (HTTP 400, "Rate
exceeded"; https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html).

Memory is bounded: a key's entry disappears once it holds no failure inside the
window, no lock-out and no remembered strike, and the table holds at most
``max_entries`` keys that are not locked out. When it is full, the entry that failed
least recently and is not locked goes (idle entries sort first); a locked entry is
never evicted (the table grows past the cap rather than forget one, and the number of
locked keys is bounded by the principals and devices in the store). Filling the table to push out one's own
entry therefore needs ``max_entries`` distinct keys — devices and principals, which
exist in the store, are bounded by IAM quotas and cost an authenticated call each — and
cannot lift a lock-out at all. An entry costs about 440 bytes (a full table: ~14 MiB).

State is per process (per node). With N nodes behind a balancer an attacker gets at
most N times the budget, still a fixed number of guesses per window; codes are also
single-use through the store, so a success on one node cannot be replayed on another.

The limiter is pure apart from its lock: callers pass ``now`` (from ``runtime.clock``).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import cast

from tessera.errors import Throttling

MFA_MAX_FAILURES = 5
MFA_WINDOW_SECONDS = 300.0
MFA_LOCKOUT_SECONDS = 300.0
MFA_MAX_LOCKOUT_SECONDS = 3600.0
MFA_MAX_ENTRIES = 32_768
EVICTION_SCAN = 64
_EXTRAS_KEY = "throttle.mfa"
_CREATE_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class Limits:
    max_failures: int = MFA_MAX_FAILURES
    window: float = MFA_WINDOW_SECONDS
    lockout: float = MFA_LOCKOUT_SECONDS
    max_lockout: float = MFA_MAX_LOCKOUT_SECONDS
    max_entries: int = MFA_MAX_ENTRIES


class _Entry:
    __slots__ = ("failures", "in_flight", "locked_until", "strikes", "last_failure")

    def __init__(self) -> None:
        self.failures: list[float] = []  # at most max_failures timestamps, oldest first
        self.in_flight = 0
        self.locked_until = 0.0
        self.strikes = 0
        self.last_failure = 0.0


class Locked(Exception):
    """Raised by ``FailureLimiter.attempt`` when one of the keys is locked out."""


class Attempt:
    """One reserved try; the caller says how it went (default: neither, nothing counted)."""

    __slots__ = ("failed",)

    def __init__(self) -> None:
        self.failed = False

    def fail(self) -> None:
        self.failed = True


class FailureLimiter:
    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # least recently failed first
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @contextmanager
    def attempt(self, keys: Sequence[str], now: dt.datetime) -> Iterator[Attempt]:
        """Reserve one try for every key (raise ``Locked`` if any key is out of tries),
        run the body, then record a failure for every key if the body called ``fail()``.
        An exception from the body releases the reservation without counting it."""
        at = now.timestamp()
        keys = tuple(dict.fromkeys(keys))
        with self._lock:
            entries = [self._entry(key, at) for key in keys]
            if any(self._refuses(entry, at) for entry in entries):
                self._drop_idle(keys, at)
                raise Locked()
            for entry in entries:
                entry.in_flight += 1
        outcome = Attempt()
        try:
            yield outcome
        finally:
            with self._lock:
                for key, entry in zip(keys, entries):
                    entry.in_flight -= 1
                    if outcome.failed:
                        self._fail(key, entry, at)
                self._drop_idle(keys, at)

    def locked(self, key: str, now: dt.datetime) -> bool:
        at = now.timestamp()
        with self._lock:
            entry = self._entries.get(key)
            return entry is not None and self._refuses(entry, at)

    # -- internals (called with the lock held) ---------------------------------------
    def _entry(self, key: str, at: float) -> _Entry:
        entry = self._entries.get(key)
        if entry is None:
            self._make_room(at)
            entry = self._entries[key] = _Entry()
        self._expire(entry, at)
        return entry

    def _expire(self, entry: _Entry, at: float) -> None:
        horizon = at - self.limits.window
        failures = entry.failures
        while failures and failures[0] <= horizon:
            failures.pop(0)
        if entry.strikes and at >= entry.locked_until + self.limits.max_lockout:
            entry.strikes = 0

    def _refuses(self, entry: _Entry, at: float) -> bool:
        return at < entry.locked_until or len(entry.failures) + entry.in_flight >= self.limits.max_failures

    def _fail(self, key: str, entry: _Entry, at: float) -> None:
        limits = self.limits
        self._expire(entry, at)
        entry.failures.append(at)
        entry.last_failure = at
        self._entries.move_to_end(key)
        if len(entry.failures) >= limits.max_failures and at >= entry.locked_until:
            entry.locked_until = at + min(limits.lockout * (2 ** min(entry.strikes, 32)), limits.max_lockout)
            entry.strikes += 1
            entry.failures.clear()

    def _idle(self, entry: _Entry, at: float) -> bool:
        self._expire(entry, at)
        return not entry.failures and not entry.in_flight and at >= entry.locked_until and not entry.strikes

    def _drop_idle(self, keys: Sequence[str], at: float) -> None:
        for key in keys:
            entry = self._entries.get(key)
            if entry is not None and self._idle(entry, at):
                del self._entries[key]

    def _make_room(self, at: float) -> None:
        """Keep the table under ``max_entries`` by evicting, least recently failed first,
        an entry that is neither locked nor in flight (idle ones included). At most
        ``EVICTION_SCAN`` entries are looked at, locked ones moving to the back; if none
        of them can go, the table grows by one instead — locked keys are real principals
        and devices, so their number is bounded by what the store holds."""
        entries = self._entries
        while len(entries) >= self.limits.max_entries:
            for _ in range(min(EVICTION_SCAN, len(entries))):
                key, entry = next(iter(entries.items()))
                if at >= entry.locked_until and not entry.in_flight:
                    del entries[key]
                    break
                entries.move_to_end(key)
            else:
                return


def mfa_limiter(extras: dict[str, object]) -> FailureLimiter:
    """The process's MFA limiter, kept in ``Runtime.extras`` (created on first use)."""
    limiter = extras.get(_EXTRAS_KEY)
    if limiter is None:
        with _CREATE_LOCK:
            limiter = extras.get(_EXTRAS_KEY)
            if limiter is None:
                limiter = extras[_EXTRAS_KEY] = FailureLimiter()
    return cast(FailureLimiter, limiter)


@contextmanager
def mfa_attempt(extras: dict[str, object], keys: Sequence[str], now: dt.datetime) -> Iterator[Attempt]:
    """``FailureLimiter.attempt`` on the MFA limiter, with a lock-out answered as AWS's
    ``Throttling`` error."""
    try:
        with mfa_limiter(extras).attempt(keys, now) as outcome:
            yield outcome
    except Locked:
        raise Throttling() from None


def device_key(serial: str) -> str:
    return f"mfa-device:{serial}"


def principal_key(arn: str) -> str:
    return f"principal:{arn}"

"""Online-guessing limits: a bounded, clock-injected failure limiter.

A secret that a client can try online (an MFA code, later a console password) is
guarded by a ``FailureLimiter`` keyed by the parties the attempt concerns: always the
calling principal, by its unique id (``principal_key``: a user's or role's id, never a
name or ARN, so renaming oneself or changing one's path buys nothing; every session of
a role counts against the role), and the MFA device (``device_key``) only when the
device is bound to a user and that user is the caller. A failure that concerns another
user's device — or a device nobody has enabled yet (EnableMFADevice, which policies
commonly allow on one's own user only) — counts against the caller alone, so no
principal can lock another out of its device or its enrolment. The rules, per key:

* an attempt first *reserves* a slot; a key whose failures inside the sliding
  ``window`` plus its attempts still in flight reach ``max_failures`` is refused, so a
  burst of concurrent guesses cannot overshoot the limit. The trade-off: a caller with
  more than ``max_failures`` (less its recent failures) MFA calls in flight at once gets
  ``Throttling`` for the extra ones — a refusal only, nothing is counted, no lock-out
  starts, the reservations of successes are given back as they finish, and SDKs retry
  ``Throttling`` with back-off. Only failures are ever recorded;
* the ``max_failures``-th failure inside the window locks the key for ``lockout``,
  doubled for each further lock-out in a row (``strikes``) up to ``max_lockout``;
  strikes are forgotten once the key has been quiet for ``max_lockout``;
* while a key is locked every attempt is refused *before* the secret is looked at,
  so the refusal says nothing about whether the guess was right (a right code is
  refused too), and refused attempts do not extend the lock-out;
* successes are not counted and do not reset anything (an attacker holding one valid
  factor cannot buy back guesses with it);
* MFA attempts answer to two such budgets at once: ``max_failures`` in the short
  window, and ``MFA_DAILY_FAILURES`` in any 24 hours (then a day's lock-out), so a
  guesser who keeps under the short window still gets only a few guesses a day.

AWS throttles failed MFA attempts without documenting numbers; refusals use the
``Throttling`` error AWS's Query APIs return for throttled calls (HTTP 400, "Rate
exceeded"; https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html).

Memory: a key's entry disappears once it is *idle* — no failure inside the window, no
lock-out, no remembered strike, nothing in flight. Only idle entries are ever evicted,
so no number of other keys makes the limiter forget a failure. Past ``max_entries``
entries each new key looks at up to ``EVICTION_SCAN`` of the least recently failed
ones and drops the idle ones among them; when none is idle the table grows instead.
It stays bounded because a key exists only after a *failure by an authenticated
caller*: an unsigned or badly signed request never reaches the limiter, a principal
key is the unique id of the user, role or account that signed, and a device key names
a device bound to that very user. So the non-idle entries are at most the principals
of the store (bounded by IAM quotas) plus principals deleted within the last
``2 × max_lockout + window`` (minting a fresh one takes CreateUser or CreateRole and
credentials, each an authorized call), plus their devices. An entry costs about
440 bytes: 32 768 of them are ~14 MiB.

The server's limiters (``Limiters.shared_by``) keep the failures and lock-outs in the
store (``Store.read_budgets`` before each attempt, ``Store.update_budget`` under the
key's row lock for each failure), so every process and node sharing it spends one
budget: ``--workers N`` or N nodes give no more guesses than one process. The table
above is then each process's copy, merged with each read (a read adds, never takes
away: a failure the store refused to record still counts here, and a read older than a
failure does not undo it), and the store deletes a budget once it is idle. The
reservations of attempts in flight stay each process's own, so N processes may let up
to N × ``max_failures`` concurrent attempts of one key start before the first failures
land; each failure still counts, and the lock-out follows. A node whose clock runs
behind ends a lock-out later by that much, one ahead earlier. Codes are also
single-use through the store, so a success on one node cannot be replayed on another.
Without a store (``FailureLimiter(limits)``) the state is the process's alone.

The limiter is pure apart from its lock and its store: callers pass ``now`` (from
``runtime.clock``).
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any

from tessera.auth.caller import Caller
from tessera.errors import Throttling
from tessera.store.base import Store

MFA_MAX_FAILURES = 5
MFA_WINDOW_SECONDS = 300.0
MFA_LOCKOUT_SECONDS = 300.0
MFA_MAX_LOCKOUT_SECONDS = 3600.0
MFA_MAX_ENTRIES = 32_768
EVICTION_SCAN = 64
# The daily budget: without it a patient guesser staying under the short window (4
# failures every 5 minutes) gets ~1 150 guesses a day, ~0.35 % a day of hitting one of
# the three codes valid at a time; with it, 20 a day (~0.006 %).
MFA_DAILY_FAILURES = 20
MFA_DAY_SECONDS = 86_400.0


@dataclass(frozen=True, slots=True)
class Limits:
    max_failures: int = MFA_MAX_FAILURES
    window: float = MFA_WINDOW_SECONDS
    lockout: float = MFA_LOCKOUT_SECONDS
    max_lockout: float = MFA_MAX_LOCKOUT_SECONDS
    max_entries: int = MFA_MAX_ENTRIES

    def __post_init__(self) -> None:
        # A lock-out clears the failures that caused it; a process that learns of it by a
        # read (``_merge``) keeps its own copies, which must have left the window by the
        # time the lock-out ends, or they would count against the key again.
        if not self.window <= self.lockout <= self.max_lockout:
            raise ValueError("a lock-out must last at least the window, and at most max_lockout")


class _Entry:
    __slots__ = ("failures", "in_flight", "last_failure", "locked_until", "strikes")

    def __init__(self) -> None:
        self.failures: list[float] = []  # at most max_failures timestamps, oldest first
        self.in_flight = 0
        self.locked_until = 0.0
        self.strikes = 0
        self.last_failure = 0.0


def _merge(entry: _Entry, stored: Mapping[str, Any] | None) -> None:
    """Add a stored budget to what ``entry`` knows: the union of the failures (by their
    time, as a multiset), the later lock-out, the larger strike count. A read never takes anything
    away: not a failure this process could not record (the store refusing writes), nor
    one recorded after the read began (a stale read), so neither gives a guesser more
    tries than one budget. What has expired leaves by ``_expire``, as in memory."""
    if not stored:
        return
    failures = Counter(float(at) for at in stored.get("failures", ()))
    known = Counter(entry.failures)
    if failures - known:  # a failure (or another one at the same instant) not known here
        entry.failures = sorted((failures | known).elements())
    entry.locked_until = max(entry.locked_until, float(stored.get("locked_until", 0.0)))
    entry.strikes = max(entry.strikes, int(stored.get("strikes", 0)))
    entry.last_failure = max(entry.last_failure, float(stored.get("last_failure", 0.0)))


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
    """With ``store`` (and a ``kind`` naming this budget there) the failures and lock-outs
    are those every process and node sharing the store recorded: read before each
    attempt, each failure recorded under the key's row lock (``Store.update_budget``).
    Without, they are this process's own. Reservations of attempts in flight are always
    the process's own."""

    def __init__(self, limits: Limits | None = None, *, store: Store | None = None, kind: str = "") -> None:
        self.limits = limits or Limits()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # least recently failed first
        self._lock = threading.Lock()
        self._store = store
        self._kind = kind

    def __len__(self) -> int:
        return len(self._entries)

    @contextmanager
    def attempt(self, keys: Sequence[str], now: dt.datetime) -> Iterator[Attempt]:
        """Reserve one try for every key (raise ``Locked`` if any key is out of tries),
        run the body, then record a failure for every key if the body called ``fail()``.
        An exception from the body releases the reservation without counting it."""
        at = now.timestamp()
        keys = tuple(dict.fromkeys(keys))
        shared = None if self._store is None else self._store.read_budgets(self._kind, keys)
        with self._lock:
            entries = [self._entry(key, at) for key in keys]
            if shared is not None:
                for key, entry in zip(keys, entries, strict=True):
                    _merge(entry, shared.get(key))
                    self._expire(entry, at)
            if any(self._refuses(entry, at) for entry in entries):
                self._drop_idle(keys, at)
                raise Locked()
            for entry in entries:
                entry.in_flight += 1
        outcome = Attempt()
        try:
            yield outcome
        finally:
            recorded: dict[str, Mapping[str, Any] | None] = {}
            try:
                if outcome.failed and self._store is not None:
                    for key in keys:
                        recorded[key] = self._store.update_budget(self._kind, key, functools.partial(self._failed, at=at), now)
            finally:
                with self._lock:
                    for key, entry in zip(keys, entries, strict=True):
                        entry.in_flight -= 1
                        if outcome.failed:
                            self._fail(key, entry, at)  # counted here even if the store refused it
                            _merge(entry, recorded.get(key))
                    self._drop_idle(keys, at)

    def locked(self, key: str, now: dt.datetime) -> bool:
        """Whether ``key`` is refused now, by what this process knows (with a store: as
        of its last attempt of the key; ``attempt`` reads the store first)."""
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
        self._record_failure(entry, at)
        self._entries.move_to_end(key)

    def _record_failure(self, entry: _Entry, at: float) -> None:
        limits = self.limits
        self._expire(entry, at)
        bisect.insort(entry.failures, at)  # in order although other nodes' clocks differ
        entry.last_failure = max(entry.last_failure, at)
        if len(entry.failures) >= limits.max_failures and at >= entry.locked_until:
            entry.locked_until = at + min(limits.lockout * (2 ** min(entry.strikes, 32)), limits.max_lockout)
            entry.strikes += 1
            entry.failures.clear()

    def _failed(self, stored: Mapping[str, Any] | None, *, at: float) -> tuple[Mapping[str, Any], dt.datetime]:
        """``Store.update_budget``'s change for a failure at ``at``: the stored budget
        with it recorded, and when that budget is idle."""
        entry = _Entry()
        _merge(entry, stored)
        self._record_failure(entry, at)
        limits = self.limits
        idle = max(
            entry.failures[-1] + limits.window if entry.failures else 0.0,
            entry.locked_until + (limits.max_lockout if entry.strikes else 0.0),
        )
        state = {"failures": entry.failures, "locked_until": entry.locked_until, "strikes": entry.strikes, "last_failure": at}
        return state, dt.datetime.fromtimestamp(idle, dt.UTC)

    def _idle(self, entry: _Entry, at: float) -> bool:
        self._expire(entry, at)
        return not entry.failures and not entry.in_flight and at >= entry.locked_until and not entry.strikes

    def _drop_idle(self, keys: Sequence[str], at: float) -> None:
        for key in keys:
            entry = self._entries.get(key)
            if entry is not None and self._idle(entry, at):
                del self._entries[key]

    def _make_room(self, at: float) -> None:
        """Keep the table near ``max_entries`` by dropping *idle* entries only — no
        failure inside the window, no lock-out, no remembered strike, nothing in flight
        — so forgetting an entry never gives anyone back a guess. At most
        ``EVICTION_SCAN`` entries are looked at per new key, least recently failed first
        (the ones still holding something move to the back); if none of them is idle the
        table grows by one instead (see the module docstring for why that is bounded)."""
        entries = self._entries
        for _ in range(min(EVICTION_SCAN, len(entries))):
            if len(entries) < self.limits.max_entries:
                return
            key, entry = next(iter(entries.items()))
            if self._idle(entry, at):
                del entries[key]
            else:
                entries.move_to_end(key)


DAILY_LIMITS = Limits(max_failures=MFA_DAILY_FAILURES, window=MFA_DAY_SECONDS, lockout=MFA_DAY_SECONDS, max_lockout=MFA_DAY_SECONDS)
"""The daily budget: ``MFA_DAILY_FAILURES`` failures in any 24 hours, then a day's lock-out."""


def _daily() -> FailureLimiter:
    return FailureLimiter(DAILY_LIMITS)


SIGNIN_ADDRESS_LIMITS = Limits(max_failures=40, window=900.0, lockout=900.0, max_lockout=3600.0)
"""Console sign-in failures from one address (an IPv4 address or an IPv6 /64): enough
for an office behind one NAT, too few to spray passwords over many users."""


def _signin_address() -> FailureLimiter:
    return FailureLimiter(SIGNIN_ADDRESS_LIMITS)


SIGNIN_NAME_LIMITS = Limits(max_failures=100, window=900.0, lockout=900.0, max_lockout=3600.0)
"""Console sign-in failures for one user name from every address together: the bound on
guessing spread over many addresses, high enough that nobody else's failures lock a user
out unless they keep up a hundred every quarter of an hour (the tight budget is per user
and address)."""


def _signin_name() -> FailureLimiter:
    return FailureLimiter(SIGNIN_NAME_LIMITS)


@dataclass(frozen=True, slots=True)
class Limiters:
    """The failure limiters (``Runtime.limiters``): for MFA codes and for passwords, each
    a short-window budget and a daily one; and console sign-in failures by source
    address and by name (``tessera.console.signin``). The defaults are the process's
    own; the server's (``shared_by``) are those of every process sharing its store."""

    mfa: FailureLimiter = field(default_factory=FailureLimiter)
    mfa_daily: FailureLimiter = field(default_factory=_daily)
    password: FailureLimiter = field(default_factory=FailureLimiter)
    password_daily: FailureLimiter = field(default_factory=_daily)
    signin_address: FailureLimiter = field(default_factory=_signin_address)
    signin_name: FailureLimiter = field(default_factory=_signin_name)

    @classmethod
    def shared_by(cls, store: Store) -> Limiters:
        """Limiters whose budgets are kept in ``store``: the default limits of each field,
        one kind of budget each, named after the field (``mfa-daily``, ``signin-name``…)."""
        defaults = cls()
        return cls(
            **{f.name: FailureLimiter(getattr(defaults, f.name).limits, store=store, kind=f.name.replace("_", "-")) for f in fields(cls)}
        )


@contextmanager
def mfa_attempt(limiters: Limiters, keys: Sequence[str], now: dt.datetime) -> Iterator[Attempt]:
    """One try against both MFA budgets (the short window and the day), with a lock-out
    of either answered as AWS's ``Throttling`` error; a failure counts in both."""
    try:
        with _both(limiters.mfa, limiters.mfa_daily, keys, now) as outcome:
            yield outcome
    except Locked:
        raise Throttling() from None


@contextmanager
def _both(short: FailureLimiter, daily: FailureLimiter, keys: Sequence[str], now: dt.datetime) -> Iterator[Attempt]:
    """One try against a short-window and a daily limiter; a failure counts in both."""
    with short.attempt(keys, now) as outcome, daily.attempt(keys, now) as day:
        try:
            yield outcome
        finally:
            if outcome.failed:
                day.fail()


def device_key(serial: str) -> str:
    """The key of an MFA device. Use it only for a device bound to a user and only when
    that user is the caller: failures on a device that is not yet (or not the caller's)
    must not let one principal lock another out of it."""
    return f"mfa-device:{serial}"


def principal_key(caller: Caller) -> str:
    """The limiter key of the calling principal (see ``principal_id``)."""
    return f"principal:{principal_id(caller)}"


def principal_id(caller: Caller) -> str:
    """The unique id failures of ``caller`` count against: never a name or ARN, so renaming
    a user or changing its path (UpdateUser) does not buy a fresh budget. A role session
    counts against its role (the session name is the caller's choice); a federated user
    and GetSessionToken credentials against the user (or root) that minted them; root
    against its account. Unique ids are AWS's
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids)."""
    session = caller.session
    if caller.kind == "assumed-role" and session is not None:
        return session.role_id or caller.user_id.split(":", 1)[0]
    if caller.kind == "root":
        return caller.account
    if session is not None and session.source_user_id:
        return session.source_user_id
    return caller.user_id


# -- passwords --------------------------------------------------------------------------
# ChangePassword checks the caller's current password: without a limit, one access key
# would be an online oracle for the console password. The same rules and numbers as MFA
# codes apply, in budgets of their own (a wrong password does not use up MFA tries).


@contextmanager
def password_attempt(limiters: Limiters, keys: Sequence[str], now: dt.datetime) -> Iterator[Attempt]:
    """One password check against a short-window and a daily budget; raises ``Locked``
    while either budget of any key is spent (the caller answers it)."""
    with _both(limiters.password, limiters.password_daily, keys, now) as outcome:
        yield outcome

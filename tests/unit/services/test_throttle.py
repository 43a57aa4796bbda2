"""The failure limiter that guards online guessing (MFA codes): windows, lock-outs,
back-off, concurrency and bounded memory, all on an injected clock."""

from __future__ import annotations

import datetime as dt

import pytest

from tessera.auth.caller import Caller, SessionClaims, SessionKind
from tessera.clock import FixedClock
from tessera.errors import Throttling
from tessera.services.throttle import (
    DAILY_LIMITS,
    EVICTION_SCAN,
    FailureLimiter,
    Limiters,
    Limits,
    Locked,
    mfa_attempt,
    principal_key,
)

T0 = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
LIMITS = Limits(max_failures=3, window=60, lockout=100, max_lockout=350, max_entries=8)


def fail(limiter: FailureLimiter, clock: FixedClock, *keys: str) -> None:
    with limiter.attempt(keys, clock.now()) as attempt:
        attempt.fail()


def succeed(limiter: FailureLimiter, clock: FixedClock, *keys: str) -> None:
    with limiter.attempt(keys, clock.now()):
        pass


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def limiter() -> FailureLimiter:
    return FailureLimiter(LIMITS)


def test_locks_after_max_failures_and_refuses_even_before_looking(limiter: FailureLimiter, clock: FixedClock) -> None:
    for _ in range(3):
        fail(limiter, clock, "k")
    looked = []
    with pytest.raises(Locked), limiter.attempt(["k"], clock.now()):
        looked.append(True)  # a right guess must not even be checked
    assert not looked and limiter.locked("k", clock.now())


def test_successes_are_not_counted_and_do_not_reset(limiter: FailureLimiter, clock: FixedClock) -> None:
    for _ in range(10):
        succeed(limiter, clock, "k")
    assert len(limiter) == 0  # nothing kept for a key that never failed
    fail(limiter, clock, "k")
    fail(limiter, clock, "k")
    succeed(limiter, clock, "k")
    fail(limiter, clock, "k")
    assert limiter.locked("k", clock.now())


def test_failures_slide_out_of_the_window(limiter: FailureLimiter, clock: FixedClock) -> None:
    fail(limiter, clock, "k")
    fail(limiter, clock, "k")
    clock.advance(61)
    fail(limiter, clock, "k")
    fail(limiter, clock, "k")
    assert not limiter.locked("k", clock.now())
    fail(limiter, clock, "k")
    assert limiter.locked("k", clock.now())


def test_lockout_ends_and_backs_off_then_is_forgotten(limiter: FailureLimiter, clock: FixedClock) -> None:
    for expected in (100, 200, 350, 350):  # doubles, capped at max_lockout
        for _ in range(3):
            fail(limiter, clock, "k")
        clock.advance(expected - 1)
        assert limiter.locked("k", clock.now())
        clock.advance(1)
        assert not limiter.locked("k", clock.now())
    clock.advance(350)  # quiet for max_lockout: strikes forgotten, entry dropped
    succeed(limiter, clock, "k")
    assert len(limiter) == 0
    for _ in range(3):
        fail(limiter, clock, "k")
    clock.advance(100)
    assert not limiter.locked("k", clock.now())


def test_refused_attempts_do_not_extend_the_lockout(limiter: FailureLimiter, clock: FixedClock) -> None:
    for _ in range(3):
        fail(limiter, clock, "k")
    for _ in range(50):
        clock.advance(1)
        with pytest.raises(Locked):
            fail(limiter, clock, "k")
    clock.advance(50)
    assert not limiter.locked("k", clock.now())


def test_every_key_counts_and_any_locked_key_refuses(limiter: FailureLimiter, clock: FixedClock) -> None:
    """Per device and per caller: spreading guesses over devices still locks the caller,
    and spreading them over callers still locks the device."""
    for device in ("d1", "d2", "d3"):
        fail(limiter, clock, "caller", device)
    with pytest.raises(Locked):
        fail(limiter, clock, "caller", "d4")
    for caller in ("c1", "c2", "c3"):
        fail(limiter, clock, caller, "device")
    with pytest.raises(Locked):
        fail(limiter, clock, "c4", "device")


def test_attempts_in_flight_count_so_concurrency_cannot_overshoot(limiter: FailureLimiter, clock: FixedClock) -> None:
    with limiter.attempt(["k"], clock.now()) as first, limiter.attempt(["k"], clock.now()) as second:
        with limiter.attempt(["k"], clock.now()) as third:
            with pytest.raises(Locked), limiter.attempt(["k"], clock.now()):
                pass
            third.fail()
        first.fail()
        second.fail()
    assert limiter.locked("k", clock.now())


def test_an_error_in_the_body_releases_without_counting(limiter: FailureLimiter, clock: FixedClock) -> None:
    for _ in range(5):
        with pytest.raises(RuntimeError), limiter.attempt(["k"], clock.now()):
            raise RuntimeError("store unavailable")
    assert len(limiter) == 0


def test_eviction_never_lifts_a_lockout(limiter: FailureLimiter, clock: FixedClock) -> None:
    for _ in range(3):
        fail(limiter, clock, "victim-of-lockout")
    for i in range(1000):  # fill the table with fresh keys to push entries out
        fail(limiter, clock, f"filler-{i}")
    assert limiter.locked("victim-of-lockout", clock.now())


def test_eviction_never_forgets_a_failure_inside_the_window(limiter: FailureLimiter, clock: FixedClock) -> None:
    fail(limiter, clock, "attacker", "device")
    fail(limiter, clock, "attacker", "device")
    clock.advance(1)
    for i in range(1000):  # many fresh keys, each failing once, do not push "device" out
        fail(limiter, clock, f"filler-{i}")
    fail(limiter, clock, "accomplice", "device")  # its third failure: locked
    assert limiter.locked("device", clock.now())


def test_eviction_never_forgets_a_remembered_strike(limiter: FailureLimiter, clock: FixedClock) -> None:
    for _ in range(3):
        fail(limiter, clock, "device")
    clock.advance(LIMITS.lockout)  # the lock-out is over; the strike is remembered
    for i in range(1000):
        fail(limiter, clock, f"filler-{i}")
    for _ in range(3):
        fail(limiter, clock, "device")
    clock.advance(LIMITS.lockout)  # the second lock-out lasts twice as long
    assert limiter.locked("device", clock.now())


def test_idle_entries_make_room_so_the_table_shrinks_back(limiter: FailureLimiter, clock: FixedClock) -> None:
    for i in range(100):
        fail(limiter, clock, f"old-{i}")
    assert len(limiter) == 100  # nothing idle to evict: the table grows rather than forget
    clock.advance(LIMITS.window)
    for i in range(100):  # the old failures slid out of the window: new keys drop idle ones
        fail(limiter, clock, f"new-{i}")
    assert len(limiter) == 100  # every "old-" entry went, every "new-" one (not idle) stays
    clock.advance(LIMITS.window)
    fail(limiter, clock, "last")  # one new key looks at EVICTION_SCAN entries at most
    assert len(limiter) == 100 + 1 - EVICTION_SCAN


def test_eviction_takes_idle_entries_first(limiter: FailureLimiter, clock: FixedClock) -> None:
    fail(limiter, clock, "old")
    clock.advance(LIMITS.window)  # "old" holds nothing any more
    for i in range(LIMITS.max_entries - 2):
        fail(limiter, clock, f"k{i}")
    fail(limiter, clock, "attacker")
    fail(limiter, clock, "attacker")
    fail(limiter, clock, "newcomer")  # the table is full: idle "old" goes, "attacker" stays
    assert len(limiter) == LIMITS.max_entries
    fail(limiter, clock, "attacker")
    assert limiter.locked("attacker", clock.now())


def test_a_table_full_of_locked_keys_still_tracks_new_keys(clock: FixedClock) -> None:
    limiter = FailureLimiter(Limits(max_failures=1, window=60, lockout=100, max_lockout=100, max_entries=4))
    for i in range(6):
        fail(limiter, clock, f"k{i}")
    assert all(limiter.locked(f"k{i}", clock.now()) for i in range(6))


def test_mfa_attempt_answers_throttling_and_counts_in_both_mfa_budgets(clock: FixedClock) -> None:
    limiters = Limiters()
    assert limiters.mfa.limits == Limits() and limiters.mfa_daily.limits == DAILY_LIMITS
    for _ in range(limiters.mfa.limits.max_failures):
        with mfa_attempt(limiters, ["k"], clock.now()) as attempt:
            attempt.fail()
    assert limiters.mfa.locked("k", clock.now())
    assert len(limiters.mfa_daily) == 1 and len(limiters.password) == len(limiters.password_daily) == 0
    with pytest.raises(Throttling) as refused, mfa_attempt(limiters, ["k"], clock.now()):
        pass
    assert (refused.value.code, refused.value.status, refused.value.message) == ("Throttling", 400, "Rate exceeded")


def _session(kind: SessionKind, **claims: str) -> SessionClaims:
    return SessionClaims(kind, "ASIAEXAMPLE", "secret", "111122223333", T0, T0 + dt.timedelta(hours=1), **claims)


def test_principals_are_keyed_by_unique_id_never_by_name_or_path() -> None:
    user = Caller("user", "111122223333", "arn:aws:iam::111122223333:user/alice", "AIDAALICE", "alice", "AKIA1")
    renamed = Caller("user", "111122223333", "arn:aws:iam::111122223333:user/ops/alicia", "AIDAALICE", "alicia", "AKIA2")
    assert principal_key(user) == principal_key(renamed) == "principal:AIDAALICE"
    # GetSessionToken credentials and federated users count against the user that minted them
    token = Caller(
        "user",
        "111122223333",
        user.arn,
        "AIDAALICE",
        "alice",
        "ASIA1",
        _session("session-token", source_arn=user.arn, source_user_id="AIDAALICE"),
    )
    federated = Caller(
        "federated-user",
        "111122223333",
        "arn:aws:sts::111122223333:federated-user/anyname",
        "111122223333:anyname",
        "anyname",
        "ASIA2",
        _session("federation-token", source_user_id="AIDAALICE"),
    )
    assert principal_key(token) == principal_key(federated) == principal_key(user)
    # every session of a role counts against the role, whatever its name, path or session name
    sessions = [
        Caller(
            "assumed-role",
            "111122223333",
            f"arn:aws:sts::111122223333:assumed-role/{role}/{name}",
            f"AROAROLE:{name}",
            role,
            "ASIA3",
            _session("assumed-role", role_id="AROAROLE", role_name=role),
        )
        for role, name in (("deploy", "s1"), ("deploy-renamed", "s2"))
    ]
    assert {principal_key(s) for s in sessions} == {"principal:AROAROLE"}
    root = Caller("root", "111122223333", "arn:aws:iam::111122223333:root", "111122223333", "", "AKIAROOT")
    assert principal_key(root) == "principal:111122223333"


def test_concurrent_successes_are_refused_beyond_the_budget_but_never_lock(limiter: FailureLimiter, clock: FixedClock) -> None:
    """Each attempt in flight holds one of the key's tries until it ends, so a burst
    cannot overshoot the limit; a burst larger than the budget is refused (Throttling,
    which SDKs retry), but successes then give their tries back and nothing is counted."""
    with (
        limiter.attempt(["k"], clock.now()),
        limiter.attempt(["k"], clock.now()),
        limiter.attempt(["k"], clock.now()),
        pytest.raises(Locked),
        limiter.attempt(["k"], clock.now()),
    ):
        pass
    assert not limiter.locked("k", clock.now()) and len(limiter) == 0
    for _ in range(10):
        succeed(limiter, clock, "k")
    fail(limiter, clock, "k")
    fail(limiter, clock, "k")
    assert not limiter.locked("k", clock.now())


def test_a_burst_of_wrong_guesses_cannot_overshoot_the_limit(limiter: FailureLimiter, clock: FixedClock) -> None:
    fail(limiter, clock, "k")
    with limiter.attempt(["k"], clock.now()) as first, limiter.attempt(["k"], clock.now()) as second:
        # two failures possible in flight + one recorded: no fourth try
        with pytest.raises(Locked), limiter.attempt(["k"], clock.now()):
            pass
        first.fail()
        second.fail()
    assert limiter.locked("k", clock.now())


def test_a_lock_out_shorter_than_the_window_is_refused() -> None:
    """Failures a lock-out cleared may still be held by another process (a shared budget
    is merged, never replaced): they must leave the window before the lock-out ends."""
    with pytest.raises(ValueError, match="at least the window"):
        Limits(window=600, lockout=60)
    with pytest.raises(ValueError, match="max_lockout"):
        Limits(window=60, lockout=600, max_lockout=300)

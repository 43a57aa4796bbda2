"""Argon2 work is bounded: a few password operations at once in the process, one per
user, and no argon2 work before the cheap checks (counts, never seconds)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

import pytest
from iamhandlers import Call, user_arn

from tessera.auth.caller import Caller
from tessera.errors import PasswordPolicyViolationException, Throttling
from tessera.services.iam.passwords import GATE, HASH_SLOTS, password_matches
from tessera.services.runtime import WORKER_THREADS, Runtime

GOOD = "Correct-Horse-9"
OTHER = "Battery-Staple-7"
MakeUser = Callable[[str, str | None], Caller]


def _self_service(name: str) -> str:
    statement = {"Effect": "Allow", "Action": "iam:ChangePassword", "Resource": user_arn(name)}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _user_id(runtime: Runtime, name: str) -> str:
    rec = runtime.view.account("111122223333").user(name)  # type: ignore[union-attr]
    assert rec is not None
    return str(rec["id"])


def _hash(runtime: Runtime, name: str) -> str:
    state = runtime.view.account("111122223333")
    assert state is not None
    return str(state.login_profiles[name]["hash"])


def test_the_slots_are_well_below_the_worker_pool() -> None:
    assert 1 <= HASH_SLOTS <= WORKER_THREADS // 4 and GATE.slots == HASH_SLOTS


def test_concurrent_password_operations_never_run_more_argon2_than_the_slots(call: Call, runtime: Runtime) -> None:
    call("UpdateAccountPasswordPolicy", PasswordReusePrevention=24, MinimumPasswordLength=8)
    names = [f"u{i}" for i in range(3 * HASH_SLOTS + 2)]
    for name in names:
        call("CreateUser", UserName=name)
        call("CreateLoginProfile", UserName=name, Password=GOOD)
        call("UpdateLoginProfile", UserName=name, Password=OTHER)
    GATE.peak = GATE.in_flight
    barrier = threading.Barrier(len(names))
    outcomes: list[str] = []

    def run(name: str) -> None:
        barrier.wait()
        try:
            call("UpdateLoginProfile", UserName=name, Password=f"Fresh-Pass-{name}")
            outcomes.append("ok")
        except Throttling:
            outcomes.append("throttled")

    threads = [threading.Thread(target=run, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == len(names) and "ok" in outcomes
    assert GATE.peak <= HASH_SLOTS


def test_one_password_operation_per_user_at_once(call: Call, runtime: Runtime, user_with_policy: MakeUser) -> None:
    dave = user_with_policy("dave", _self_service("dave"))
    call("CreateLoginProfile", UserName="dave", Password=GOOD)
    before = _hash(runtime, "dave")
    calls = GATE.calls
    with GATE.hold(_user_id(runtime, "dave")):
        with pytest.raises(Throttling):
            call("ChangePassword", caller=dave, OldPassword=GOOD, NewPassword=OTHER)
        with pytest.raises(Throttling):
            call("UpdateLoginProfile", UserName="dave", Password=OTHER)
    assert GATE.calls == calls and _hash(runtime, "dave") == before
    call("ChangePassword", caller=dave, OldPassword=GOOD, NewPassword=OTHER)
    assert password_matches(_hash(runtime, "dave"), OTHER)


def test_no_free_slot_within_the_wait_is_throttling(call: Call, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    call("CreateUser", UserName="erin")
    monkeypatch.setattr(GATE, "wait", 0.0)
    holders = [GATE.hold(f"other-{i}") for i in range(HASH_SLOTS)]
    for holder in holders:
        holder.__enter__()
    try:
        calls = GATE.calls
        with pytest.raises(Throttling):
            call("CreateLoginProfile", UserName="erin", Password=GOOD)
        assert GATE.calls == calls
    finally:
        for holder in holders:
            holder.__exit__(None, None, None)
    call("CreateLoginProfile", UserName="erin", Password=GOOD)


def test_policy_checks_run_before_any_argon2_work(call: Call, runtime: Runtime, user_with_policy: MakeUser) -> None:
    call("UpdateAccountPasswordPolicy", PasswordReusePrevention=24, MinimumPasswordLength=12, RequireSymbols=True)
    fay = user_with_policy("fay", _self_service("fay"))
    call("CreateLoginProfile", UserName="fay", Password="Correct-Horse-Battery-9")
    calls = GATE.calls
    with pytest.raises(PasswordPolicyViolationException):
        call("ChangePassword", caller=fay, OldPassword="Correct-Horse-Battery-9", NewPassword="short")
    with pytest.raises(PasswordPolicyViolationException):
        call("UpdateLoginProfile", UserName="fay", Password="NoSymbolsHere123")
    assert GATE.calls == calls

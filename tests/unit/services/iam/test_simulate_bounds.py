"""The simulator's bounds: policy input size and estimated work, checked before running."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from iamhandlers import Call

from tessera.errors import InvalidInputException, Throttling
from tessera.services.iam import simulate


def policy(pattern: str, key: str = "aws:UserAgent") -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": {"StringLike": {key: pattern}}}],
        }
    )


def entries(value: str, key: str = "aws:UserAgent") -> list[dict[str, object]]:
    return [{"ContextKeyName": key, "ContextKeyValues": [value], "ContextKeyType": "string"}]


def test_work_grows_with_question_mark_patterns_times_value_length() -> None:
    params = {"ActionNames": ["s3:GetObject"]}
    short = simulate.estimated_work([policy("*?a*")], params, entries("x" * 1000))[1]
    long_pattern = simulate.estimated_work([policy("*" + "?a" * 100 + "*")], params, entries("x" * 1000))[1]
    long_value = simulate.estimated_work([policy("*?a*")], params, entries("x" * 100_000))[1]
    assert long_pattern > 10 * short and long_value > 10 * short
    # a value of another key costs nothing to this condition; the key is case-insensitive
    other = simulate.estimated_work([policy("*?a*")], params, entries("x" * 100_000, "a:other"))[1]
    folded = simulate.estimated_work([policy("*?a*")], params, entries("x" * 100_000, "AWS:USERAGENT"))[1]
    assert other < short and folded == long_value


def test_work_multiplies_by_actions_and_resources() -> None:
    one = simulate.estimated_work([policy("*")], {"ActionNames": ["s3:A"]}, [])[1]
    many = simulate.estimated_work([policy("*")], {"ActionNames": ["s3:A"] * 10, "ResourceArns": ["*"] * 10}, [])[1]
    assert many == 100 * one


def test_simulation_over_the_work_budget_is_invalid_input(call: Call) -> None:
    with pytest.raises(InvalidInputException, match="too large"):
        call(
            "SimulateCustomPolicy",
            PolicyInputList=[policy("*" + "?a" * 300 + "b*")],
            ActionNames=[f"s3:Get{i}" for i in range(50)],
            ContextEntries=entries("a" * 20_000),
        )


def test_simulation_within_the_budget_runs(call: Call) -> None:
    result = call(
        "SimulateCustomPolicy",
        PolicyInputList=[policy("*" + "?a" * 30 + "b*")],
        ActionNames=["s3:GetObject"],
        ContextEntries=entries("a" * 5_000 + "b"),
    )
    assert result["EvaluationResults"][0]["EvalDecision"] == "allowed"


def test_policy_input_over_the_size_limit_is_invalid_input(call: Call) -> None:
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/key"}
    document = json.dumps({"Version": "2012-10-17", "Statement": [statement] * 1000})
    assert len(document) < simulate.SIMULATION_POLICY_CHARACTERS
    with pytest.raises(InvalidInputException, match="exceed"):
        call("SimulateCustomPolicy", PolicyInputList=[document] * 3, ActionNames=["s3:GetObject"])


def test_a_simulation_beyond_the_concurrent_ones_is_throttled_not_queued(call: Call, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two simulations hold both slots (stopped inside, deterministically); a third is
    answered Throttling at once instead of parking an operation thread until one ends.
    Once they end, a simulation runs again."""
    inside = threading.Semaphore(0)
    release = threading.Event()
    check_work = simulate.check_work

    def held(sim: simulate.Simulation, params: Any) -> None:
        inside.release()
        assert release.wait(timeout=60)
        check_work(sim, params)

    monkeypatch.setattr(simulate, "check_work", held)
    params = {"PolicyInputList": [policy("*")], "ActionNames": ["s3:GetObject"], "ContextEntries": entries("x")}
    with ThreadPoolExecutor(simulate.CONCURRENT_SIMULATIONS + 1) as pool:
        running = [pool.submit(call, "SimulateCustomPolicy", **params) for _ in range(simulate.CONCURRENT_SIMULATIONS)]
        try:
            for _ in running:
                assert inside.acquire(timeout=60)
            third = pool.submit(call, "SimulateCustomPolicy", **params)
            # the timeout only detects a third simulation that waits for a slot
            with pytest.raises(Throttling, match="Rate exceeded"):
                third.result(timeout=30)
        finally:
            release.set()
        for future in running:
            assert future.result(timeout=60)["EvaluationResults"][0]["EvalDecision"] == "allowed"
    assert call("SimulateCustomPolicy", **params)["EvaluationResults"][0]["EvalDecision"] == "allowed"


def variable_policy(occurrences: int, member: str = "Resource") -> str:
    statement: dict[str, object] = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    if member == "Resource":
        statement["Resource"] = "arn:aws:s3:::" + "${aws:k}" * occurrences
    else:
        statement["Condition"] = {member: {"aws:k": "${aws:k}" * occurrences}}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


@pytest.mark.parametrize("member", ["Resource", "StringEquals", "StringLike"])
def test_work_of_a_variable_pattern_grows_with_occurrences_times_value_length(member: str) -> None:
    """Each occurrence of a variable is charged the value its key has: N occurrences of a
    value of L characters substitute N × L characters (the estimate used to charge the
    pattern's length plus a single value)."""
    params = {"ActionNames": ["s3:GetObject"], "ResourceArns": ["arn:aws:s3:::x"]}

    def each(occurrences: int, length: int) -> int:
        return simulate.estimated_work([variable_policy(occurrences, member)], params, entries("a" * length, "aws:k"))[0]

    assert each(1000, 101) - each(1000, 1) >= 1000 * 100
    assert each(2000, 100) - each(1000, 100) >= 1000 * 100


@pytest.mark.parametrize("member", ["Resource", "StringEquals", "StringLike"])
def test_estimate_bounds_the_substitution_work_a_simulation_does(call: Call, monkeypatch: pytest.MonkeyPatch, member: str) -> None:
    """Counted, not timed: every element read and every character substituted by the
    engine's variable resolution during a real simulation stays within the estimate."""
    from tessera.policy import pattern

    counted = 0
    resolve = pattern.resolve

    def counting(elements: Any, context: Any) -> Any:
        nonlocal counted
        resolved = resolve(elements, context)
        counted += len(elements) + sum(len(e) for e in resolved or () if isinstance(e, str))
        return resolved

    monkeypatch.setattr(pattern, "resolve", counting)
    document = variable_policy(500, member)
    params = {
        "PolicyInputList": [document],
        "ActionNames": ["s3:GetObject"],
        "ResourceArns": ["arn:aws:s3:::x"],
        "ContextEntries": entries("a" * 100, "aws:k"),
    }
    call("SimulateCustomPolicy", **params)
    assert counted >= 500 * 100
    assert counted <= simulate.estimated_work([document], params, params["ContextEntries"])[1]


def test_simulation_of_many_variables_over_the_budget_is_invalid_input(call: Call) -> None:
    """The reported request: 16 000 ``${aws:k}`` in a Resource (128 KB) with a
    100-character value substitute 1.6 million characters per evaluation."""
    with pytest.raises(InvalidInputException, match="too large"):
        call(
            "SimulateCustomPolicy",
            PolicyInputList=[variable_policy(16_000)],
            ActionNames=["s3:GetObject"],
            ResourceArns=["arn:aws:s3:::x"],
            ContextEntries=entries("a" * 100, "aws:k"),
        )

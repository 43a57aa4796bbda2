"""The simulator's bounds: policy input size and estimated work, checked before running."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from conftest import Call
from tessera.errors import InvalidInputException, Throttling
from tessera.services.iam import simulate


def policy(pattern: str, key: str = "aws:UserAgent") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
         "Condition": {"StringLike": {key: pattern}}}]})


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
        call("SimulateCustomPolicy", PolicyInputList=[policy("*" + "?a" * 300 + "b*")],
             ActionNames=[f"s3:Get{i}" for i in range(50)], ContextEntries=entries("a" * 20_000))


def test_simulation_within_the_budget_runs(call: Call) -> None:
    result = call("SimulateCustomPolicy", PolicyInputList=[policy("*" + "?a" * 30 + "b*")],
                  ActionNames=["s3:GetObject"], ContextEntries=entries("a" * 5_000 + "b"))
    assert result["EvaluationResults"][0]["EvalDecision"] == "allowed"


def test_policy_input_over_the_size_limit_is_invalid_input(call: Call) -> None:
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/key"}
    document = json.dumps({"Version": "2012-10-17", "Statement": [statement] * 1000})
    assert len(document) < simulate.SIMULATION_POLICY_CHARACTERS
    with pytest.raises(InvalidInputException, match="exceed"):
        call("SimulateCustomPolicy", PolicyInputList=[document] * 3, ActionNames=["s3:GetObject"])


def test_a_simulation_beyond_the_concurrent_ones_is_throttled_not_queued(
    call: Call, monkeypatch: pytest.MonkeyPatch
) -> None:
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

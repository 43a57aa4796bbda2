"""Wildcard matching cannot be made to cost O(pattern × text), and the work a request
can ask of the policy engine is bounded.

The reported attack: a session policy (which any caller of AssumeRole may pass) with a
``StringLike`` of many ``?`` against a long request value froze the whole server, since
AssumeRole is evaluated on the event loop; the same through SimulateCustomPolicy with a
long context value. These tests send the attacks and require the right answer; the
client timeouts only detect a server that stopped answering (the quadratic matcher took
tens of seconds per request here; the linear one takes milliseconds — see
``bench/policy_attacks.py`` for the measured figures).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

import pytest
from attackkit import RawClient
from serverproc import Credentials, TesseraServer

HANG = 5.0  # seconds: a detector for a frozen server, not a performance bound


def policy(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, separators=(",", ":"))


@dataclass
class Chain:
    role_arn: str
    user: Credentials


@pytest.fixture(scope="module")
def chain(target: TesseraServer) -> Chain:
    """A role the account may assume and chain into itself, and a user allowed to."""
    iam = target.client("iam")
    trust = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{target.account_id}:root"}, "Action": "sts:AssumeRole"})
    role_arn = iam.create_role(RoleName="dos-target", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.put_role_policy(
        RoleName="dos-target", PolicyName="chain", PolicyDocument=policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"})
    )
    user = target.make_user(
        "dos-attacker",
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["sts:AssumeRole", "iam:SimulateCustomPolicy"], "Resource": "*"}],
        },
    )
    return Chain(role_arn, user)


def session(target: TesseraServer, chain: Chain, session_policy: str) -> Credentials:
    sts = target.client("sts", chain.user)
    answer = sts.assume_role(RoleArn=chain.role_arn, RoleSessionName="dos", Policy=session_policy)
    return Credentials.from_response(answer["Credentials"])


def test_question_marks_in_a_session_policy_against_a_long_user_agent(target: TesseraServer, raw: RawClient, chain: Chain) -> None:
    """One ~1 900-character ``?a?a…b`` pattern against a 60 KiB User-Agent of ``a``: the
    quadratic matcher compared ~10^8 characters in Python on the event loop."""
    pattern = "*" + "?a" * 945 + "b*"
    creds = session(
        target,
        chain,
        policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*", "Condition": {"StringLike": {"aws:UserAgent": pattern}}}),
    )
    agent = "a" * 60_000
    for _ in range(3):
        prepared = raw.signed(
            "sts",
            {"Action": "AssumeRole", "RoleArn": chain.role_arn, "RoleSessionName": "chained"},
            creds=creds,
            headers={"User-Agent": agent},
        )
        reply = raw.send(prepared, timeout=HANG)
        # refused by the session policy (no ``b`` in the agent); or the header itself
        # refused by the HTTP layer's limits — either way an answer, never a freeze
        assert reply.status in (400, 403, 431), reply.text
        if reply.status == 403:
            assert reply.error_code() == "AccessDenied"
    assert raw.send(raw.signed("sts", {"Action": "GetCallerIdentity"}), timeout=HANG).status == 200


def test_a_session_policy_still_matches_what_it_should(target: TesseraServer, raw: RawClient, chain: Chain) -> None:
    creds = session(
        target,
        chain,
        policy(
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Resource": "*",
                "Condition": {"StringLike": {"aws:UserAgent": "*t?ss?ra-probe/?.?*"}},
            }
        ),
    )
    for agent, status in (("x tessera-probe/1.0 y", 200), ("x tessera-probe/10 y", 403)):
        prepared = raw.signed(
            "sts",
            {"Action": "AssumeRole", "RoleArn": chain.role_arn, "RoleSessionName": "chained"},
            creds=creds,
            headers={"User-Agent": agent},
        )
        assert raw.send(prepared, timeout=HANG).status == status


def simulate(raw: RawClient, creds: Credentials, documents: list[str], value: str, actions: int = 1) -> tuple[int, str, str]:
    form = {
        "Action": "SimulateCustomPolicy",
        "ContextEntries.member.1.ContextKeyName": "aws:UserAgent",
        "ContextEntries.member.1.ContextKeyType": "string",
        "ContextEntries.member.1.ContextKeyValues.member.1": value,
    }
    for index, document in enumerate(documents, start=1):
        form[f"PolicyInputList.member.{index}"] = document
    for index in range(actions):
        form[f"ActionNames.member.{index + 1}"] = f"s3:GetObject{index}"
    reply = raw.send(raw.signed("iam", form, creds=creds), timeout=HANG)
    return reply.status, reply.error_code(), reply.text


def question_mark_policy(pattern: str) -> str:
    return policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"StringLike": {"aws:UserAgent": pattern}}})


def test_simulator_refuses_work_beyond_its_budget(raw: RawClient, chain: Chain) -> None:
    """A 1 900-character ``?`` pattern against a 200 000-character context value, for 20
    actions: ~10^10 comparisons for the quadratic matcher, refused up front now."""
    document = question_mark_policy("*" + "?a" * 945 + "b*")
    status, code, text = simulate(raw, chain.user, [document], "a" * 200_000, actions=20)
    assert (status, code) == (400, "InvalidInput"), text
    assert "too large" in text


def test_simulator_runs_a_long_context_value_within_budget(raw: RawClient, chain: Chain) -> None:
    """Within the budget the answer is exact: a long value matched in one pass."""
    document = question_mark_policy("*" + "?a" * 60 + "?b*")
    status, _code, text = simulate(raw, chain.user, [document], "a" * 15_000 + "b")
    assert status == 200, text
    assert "<EvalDecision>allowed</EvalDecision>" in text
    status, _code, text = simulate(raw, chain.user, [document], "a" * 15_000)
    assert status == 200, text
    assert "<EvalDecision>implicitDeny</EvalDecision>" in text


def test_simulator_refuses_more_policy_text_than_one_document_may_hold(raw: RawClient, chain: Chain) -> None:
    """Nine 20 000-character policies: each within the model's 131 072, together over."""
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/key"}
    document = policy(*[statement] * 250)
    assert 15_000 < len(document) < 131_072
    status, code, text = simulate(raw, chain.user, [document] * 9, "agent")
    assert (status, code) == (400, "InvalidInput"), text


def test_oversized_session_policy_is_refused_before_it_is_read(target: TesseraServer, chain: Chain) -> None:
    """A 230 000-character session policy (AssumeRole's model sets no maximum) is refused
    for its size, not read as JSON first: so a malformed one is PackedPolicyTooLarge too."""
    sts = target.client("sts", chain.user)
    malformed = '{"Version":"2012-10-17","Statement":[' + '{"Effect":"Allow"},' * 12_000
    with pytest.raises(sts.exceptions.PackedPolicyTooLargeException):
        sts.assume_role(RoleArn=chain.role_arn, RoleSessionName="big", Policy=malformed)


def simulate_variables(
    raw: RawClient, creds: Credentials, resource_pattern: str, value: str, resource: str = "arn:aws:s3:::x"
) -> tuple[int, str, str]:
    document = policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": resource_pattern})
    form = {
        "Action": "SimulateCustomPolicy",
        "PolicyInputList.member.1": document,
        "ActionNames.member.1": "s3:GetObject",
        "ResourceArns.member.1": resource,
        "ContextEntries.member.1.ContextKeyName": "aws:k",
        "ContextEntries.member.1.ContextKeyType": "string",
        "ContextEntries.member.1.ContextKeyValues.member.1": value,
    }
    reply = raw.send(raw.signed("iam", form, creds=creds), timeout=HANG)
    return reply.status, reply.error_code(), reply.text


def test_simulator_charges_each_variable_occurrence_its_value(raw: RawClient, chain: Chain) -> None:
    """A 128 KB Resource of 16 000 ``${aws:k}`` with a 100-character value: the estimate
    charged the pattern plus one value and let through 1.6 million substituted characters
    per evaluation (4.2 s with the quadratic substitution); it is refused up front now."""
    status, code, text = simulate_variables(raw, chain.user, "arn:aws:s3:::" + "${aws:k}" * 16_000, "a" * 100)
    assert (status, code) == (400, "InvalidInput"), text
    assert "too large" in text
    # within the budget, variables substitute as before
    status, code, text = simulate_variables(
        raw, chain.user, "arn:aws:s3:::" + "${aws:k}" * 200, "ab", resource="arn:aws:s3:::" + "ab" * 200
    )
    assert status == 200, text
    assert "<EvalDecision>allowed</EvalDecision>" in text


def test_simulations_beyond_the_running_ones_are_throttled_and_leave_threads_to_others(
    target: TesseraServer, raw: RawClient, chain: Chain
) -> None:
    """Sixteen simulations near the work budget at once, then a CreateUser: simulations
    beyond the two that run are answered Throttling at once instead of parking the
    operation threads (ten of them, waiting their turn, made a CreateUser take 29 s), so
    the CreateUser completes. Every simulation gets an answer: its result, or Throttling."""
    document = question_mark_policy("*" + "?a" * 60 + "?b*")
    outcomes: list[tuple[int, str, str]] = []
    lock = threading.Lock()

    def heavy() -> None:
        outcome = simulate(raw, chain.user, [document], "a" * 15_000, actions=10)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=heavy) for _ in range(16)]
    for thread in threads:
        thread.start()
    created = raw.send(raw.signed("iam", {"Action": "CreateUser", "UserName": "during-simulations"}), timeout=HANG)
    for thread in threads:
        thread.join()
    assert created.status == 200, created.text
    assert len(outcomes) == 16
    for status, code, text in outcomes:
        assert status == 200 or (status, code) == (400, "Throttling"), text
        if status == 200:
            assert text.count("<EvalDecision>implicitDeny</EvalDecision>") == 10
        else:
            assert "Rate exceeded" in text
    # the slots are free again once the simulations are answered
    status, code, text = simulate(raw, chain.user, [document], "a" * 1_000 + "b")
    assert status == 200, text

"""``DecisionMemo``: a remembered decision is the decision evaluating again would give."""

from __future__ import annotations

import gc
import json

from hypothesis import given
from hypothesis import strategies as st
from policyhelp import A, user
from test_policy_properties import PROFILE, _policy, requests, statements

import tessera.policy.memo as memo_module
from tessera.cache import LRU
from tessera.policy import Decision, DecisionMemo, PolicySet, PolicyType, PreparedSet, Request, evaluate, parse_policy


def _answer(decision: Decision) -> tuple[object, ...]:
    """Everything a caller reads of a decision."""
    return (
        decision.result,
        decision.reason,
        decision.matched,
        decision.matched_without_scps,
        decision.missing_context_keys,
        decision.missing_context_keys_without_scps,
        decision.message_suffix,
    )


def _memo(size: int = 64) -> tuple[DecisionMemo, LRU[object, object]]:
    store: LRU[object, object] = LRU(size)
    return DecisionMemo(store), store  # type: ignore[arg-type]


@st.composite
def whole_sets(draw: st.DrawFn) -> PolicySet:
    """Every kind of policy, so that positions in the set are exercised."""
    identity = draw(st.lists(st.lists(statements(), min_size=1, max_size=3), max_size=3))
    boundary = draw(st.one_of(st.none(), st.lists(statements(), min_size=1, max_size=2)))
    session = draw(st.lists(st.lists(statements(), min_size=1, max_size=2), max_size=2))
    scps = draw(st.one_of(st.none(), st.lists(st.lists(statements(), min_size=1, max_size=2), min_size=1, max_size=2)))
    resource = draw(st.one_of(st.none(), st.lists(statements(), min_size=1, max_size=2)))
    principal = {"AWS": [f"arn:aws:iam::{A}:user/alice", f"arn:aws:iam::{A}:root"]}
    return PolicySet(
        identity=[_policy(p, pid=f"i{n}") for n, p in enumerate(identity)],
        resource=_policy([{**s, "Principal": principal} for s in resource], PolicyType.RESOURCE, "r") if resource else None,
        boundary=_policy(boundary, PolicyType.BOUNDARY, "b") if boundary else None,
        session=[_policy(p, PolicyType.SESSION, f"s{n}") for n, p in enumerate(session)],
        scps=None if scps is None else [[_policy(p, PolicyType.SCP, f"scp{n}")] for n, p in enumerate(scps)],
    )


@PROFILE
@given(whole_sets(), st.lists(requests(), min_size=1, max_size=6))
def test_memoised_decisions_equal_evaluated_ones(policies: PolicySet, asked: list[Request]) -> None:
    memo, _ = _memo()
    for request in [*asked, *asked]:  # the second pass answers from the memo
        assert _answer(memo.evaluate(request, policies)) == _answer(evaluate(request, policies))


@PROFILE
@given(whole_sets(), whole_sets(), st.lists(requests(), min_size=1, max_size=4))
def test_a_prepared_set_answers_as_the_set(policies: PolicySet, other: PolicySet, asked: list[Request]) -> None:
    """Prepared once, a set decides as it does unprepared; a set prepared for another
    set is not used."""
    memo, _ = _memo()
    prepared, wrong = PreparedSet(policies), PreparedSet(other)
    for request in [*asked, *asked]:
        expected = _answer(evaluate(request, policies))
        assert _answer(memo.evaluate(request, policies, prepared)) == expected
        assert _answer(memo.evaluate(request, policies, wrong)) == expected
        assert _answer(memo.evaluate(request, policies)) == expected


@PROFILE
@given(st.lists(statements(), min_size=1, max_size=4), requests())
def test_an_edited_policy_is_a_new_question(items: list[dict[str, object]], request: Request) -> None:
    memo, _ = _memo()
    before = PolicySet(identity=[_policy(items)])
    memo.evaluate(request, before)
    edited = PolicySet(identity=[_policy([*items, {"Effect": "Deny", "Action": "*", "Resource": "*"}])])
    assert _answer(memo.evaluate(request, edited)) == _answer(evaluate(request, edited))


def _tagged(team: str) -> Request:
    context = {"aws:PrincipalTag/team": team, "aws:CurrentTime": "2026-01-01T00:00:00Z", "aws:SourceIp": "10.0.0.1"}
    return Request(user(), "iam:GetUser", f"arn:aws:iam::{A}:user/alice", A, context)


ABAC = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalTag/team": "blue"}}}
        ],
    }
)


def test_a_changed_value_of_a_read_key_is_decided_again() -> None:
    memo, store = _memo()
    policies = PolicySet(identity=[parse_policy(ABAC, PolicyType.IDENTITY, policy_id="p")])
    assert memo.evaluate(_tagged("blue"), policies).allowed
    assert not memo.evaluate(_tagged("red"), policies).allowed
    assert len(store) == 2


def test_keys_no_policy_reads_share_one_entry() -> None:
    memo, store = _memo()
    policies = PolicySet(identity=[parse_policy(ABAC, PolicyType.IDENTITY, policy_id="p")])
    first = _tagged("blue")
    later = Request(first.principal, first.action, first.resource, A, {**first.context, "aws:CurrentTime": "2026-06-01T00:00:00Z"})
    memo.evaluate(first, policies)
    assert memo.evaluate(later, policies).allowed
    assert len(store) == 1


def test_values_python_calls_equal_are_told_apart() -> None:
    memo, _ = _memo()
    text = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"tessera:k": "1"}}}],
        }
    )
    policies = PolicySet(identity=[parse_policy(text, PolicyType.IDENTITY)])
    for value in ("1", 1, True, 1.0, ["1"], ("1",)):
        request = Request(user(), "iam:GetUser", "*", A, {"tessera:k": value})
        assert _answer(memo.evaluate(request, policies)) == _answer(evaluate(request, policies)), value


def test_a_value_that_is_not_hashable_is_evaluated_and_not_kept() -> None:
    memo, store = _memo()
    policies = PolicySet(identity=[parse_policy(ABAC, PolicyType.IDENTITY)])
    request = Request(user(), "iam:GetUser", "*", A, {"aws:PrincipalTag/team": {"not": "hashable"}})
    assert _answer(memo.evaluate(request, policies)) == _answer(evaluate(request, policies))
    assert len(store) == 0


def test_long_values_are_evaluated_and_not_kept() -> None:
    memo, store = _memo()
    policies = PolicySet(identity=[parse_policy(ABAC, PolicyType.IDENTITY)])
    memo.evaluate(_tagged("b" * 5000), policies)
    assert len(store) == 0


def test_the_memo_keeps_no_policy_alive_and_a_dead_one_matches_nothing() -> None:
    memo, store = _memo()
    request = _tagged("blue")
    allow = parse_policy(ABAC, PolicyType.IDENTITY, policy_id="p")
    assert memo.evaluate(request, PolicySet(identity=[allow])).allowed
    del allow
    gc.collect()
    for _ in range(50):  # new policies, some of them likely at the freed address
        deny = parse_policy(ABAC.replace("Allow", "Deny"), PolicyType.IDENTITY, policy_id="p")
        assert not memo.evaluate(request, PolicySet(identity=[deny])).allowed
    assert len(store) >= 1


def test_the_store_bounds_the_entries() -> None:
    memo, store = _memo(size=3)
    policies = PolicySet(identity=[parse_policy(ABAC, PolicyType.IDENTITY)])
    for team in ("a", "b", "c", "d", "e"):
        memo.evaluate(_tagged(team), policies)
    assert len(store) == 3


def test_addresses_are_keyed_by_their_value() -> None:
    """Equal addresses are one question, different ones (or scopes) are not."""
    import ipaddress

    policy = parse_policy(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "iam:GetUser",
                        "Resource": "*",
                        "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
                    }
                ],
            }
        ),
        PolicyType.IDENTITY,
    )
    policies = PolicySet(identity=[policy])
    memo, store = _memo()
    for text in ("10.0.0.1", "10.0.0.1", "192.0.2.1", "fe80::1", "fe80::1%eth0", "fe80::1%eth1", "fe80::1"):
        request = Request(user(), "iam:GetUser", f"arn:aws:iam::{A}:user/alice", A, {"aws:SourceIp": ipaddress.ip_address(text)})
        assert _answer(memo.evaluate(request, policies)) == _answer(evaluate(request, policies))
    assert len(store) == 5


@PROFILE
@given(whole_sets(), st.lists(requests(), min_size=1, max_size=8), st.integers(1, 6), st.integers(1, 3))
def test_a_prepared_set_replays_the_decisions_evaluating_gives(policies: PolicySet, asked: list[Request], size: int, kept: int) -> None:
    """One prepared set asked again and again (as a caller's profile is), with a store
    small enough that recipes are dropped and made anew and fewer replays kept than
    recipes met: every answer is the one evaluating gives, and each decision's
    ``considered`` list is its own."""
    memo, _ = _memo(size)
    prepared = PreparedSet(policies)
    saved = memo_module.MAX_REPLAYS
    memo_module.MAX_REPLAYS = kept
    try:
        for request in [*asked, *asked, *reversed(asked)]:
            remembered = memo.evaluate(request, policies, prepared)
            assert _answer(remembered) == _answer(evaluate(request, policies))
            assert remembered.statements[1] is not memo.evaluate(request, policies, prepared).statements[1]
        assert len(prepared.replays) <= kept
    finally:
        memo_module.MAX_REPLAYS = saved

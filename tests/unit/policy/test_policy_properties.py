"""Properties that must hold for every valid policy set and request (hypothesis)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policyhelp import A, B, root, session, user

from tessera.policy import (
    DecisionResult,
    Policy,
    PolicySet,
    PolicyType,
    Request,
    evaluate,
    lowered_names,
    parse_policy,
    principal_context,
    serialise,
)

PROFILE = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ACTIONS = ["*", "iam:*", "iam:Get*", "iam:GetUser", "iam:CreateUser", "iam:?etUser", "sts:AssumeRole", "s3:*"]
RESOURCES = [
    "*",
    f"arn:aws:iam::{A}:user/*",
    f"arn:aws:iam::{A}:user/${{aws:username}}",
    "arn:aws:iam::*:role/R?",
    f"arn:aws:iam::{B}:user/x",
    "arn:aws:s3:::b/*",
]
CONDITIONS = [
    {"StringEquals": {"aws:PrincipalTag/team": ["red", "blue"]}},
    {"StringNotLike": {"aws:PrincipalTag/team": "r*"}},
    {"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}},
    {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]}},
    {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    {"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}},
    {"ForAnyValue:StringLike": {"aws:TagKeys": "a*"}},
    {"Null": {"aws:TokenIssueTime": "true"}},
    {"NumericLessThan": {"aws:MultiFactorAuthAge": 3600}},
    {"DateGreaterThan": {"aws:CurrentTime": "2024-01-01T00:00:00Z"}},
    {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{A}:*"}},
]


def _listish(pool: list[str]) -> st.SearchStrategy[object]:
    return st.one_of(st.sampled_from(pool), st.lists(st.sampled_from(pool), min_size=1, max_size=3))


@st.composite
def statements(draw: st.DrawFn) -> dict[str, object]:
    statement: dict[str, object] = {"Effect": draw(st.sampled_from(["Allow", "Deny"]))}
    statement["NotAction" if draw(st.booleans()) and draw(st.booleans()) else "Action"] = draw(_listish(ACTIONS))
    statement["NotResource" if draw(st.integers(0, 5)) == 0 else "Resource"] = draw(_listish(RESOURCES))
    if draw(st.booleans()):
        condition: dict[str, object] = {}
        for block in draw(st.lists(st.sampled_from(CONDITIONS), max_size=2)):
            condition.update(block)
        statement["Condition"] = condition
    return statement


def _policy(items: list[dict[str, object]], kind: PolicyType = PolicyType.IDENTITY, pid: str = "p") -> Policy:
    numbered = [{"Sid": f"S{i}", **s} for i, s in enumerate(items)]
    return parse_policy(json.dumps({"Version": "2012-10-17", "Statement": numbered}), kind, policy_id=pid)


@st.composite
def requests(draw: st.DrawFn) -> Request:
    caller = draw(st.sampled_from([user(), user("bob"), session("R1", "s"), root(), user("eve", B)]))
    action = draw(st.sampled_from(["iam:GetUser", "iam:CreateUser", "sts:AssumeRole", "s3:GetObject", "iam:ListRoles"]))
    resource = draw(
        st.sampled_from(["*", f"arn:aws:iam::{A}:user/alice", f"arn:aws:iam::{A}:role/R1", f"arn:aws:iam::{B}:user/x", "arn:aws:s3:::b/k"])
    )
    context = principal_context(caller)
    optional = {
        "aws:PrincipalTag/team": st.sampled_from(["red", "blue", "rose"]),
        "aws:MultiFactorAuthPresent": st.booleans(),
        "aws:SourceIp": st.sampled_from(["10.1.2.3", "192.0.2.1", "2001:db8::1"]),
        "aws:TagKeys": st.lists(st.sampled_from(["a", "b", "c"]), max_size=3),
        "aws:MultiFactorAuthAge": st.integers(0, 7200),
        "aws:CurrentTime": st.sampled_from(["2023-06-01T00:00:00Z", "2025-06-01T00:00:00Z"]),
    }
    for key, values in optional.items():
        if draw(st.booleans()):
            context[key] = draw(values)
    account = resource.split(":")[4] if resource.count(":") >= 5 else ""
    return Request(caller, action, resource, account, context)


@st.composite
def policy_sets(draw: st.DrawFn) -> tuple[list[list[dict[str, object]]], list[dict[str, object]] | None]:
    identity = draw(st.lists(st.lists(statements(), min_size=1, max_size=4), max_size=3))
    boundary = draw(st.one_of(st.none(), st.lists(statements(), min_size=1, max_size=3)))
    return identity, boundary


def _evaluate(request: Request, identity: list[list[dict[str, object]]], boundary: list[dict[str, object]] | None) -> DecisionResult:
    policies = PolicySet(
        identity=[_policy(p, pid=f"p{i}") for i, p in enumerate(identity)],
        boundary=_policy(boundary, PolicyType.BOUNDARY) if boundary else None,
    )
    return evaluate(request, policies).result


@PROFILE
@given(policy_sets(), requests(), st.lists(statements(), min_size=1, max_size=3))
def test_adding_statements_never_lifts_an_explicit_deny(
    sets: tuple[list[list[dict[str, object]]], list[dict[str, object]] | None],
    request: Request,
    extra: list[dict[str, object]],
) -> None:
    identity, boundary = sets
    if _evaluate(request, identity, boundary) is DecisionResult.EXPLICIT_DENY:
        assert _evaluate(request, [*identity, extra], boundary) is DecisionResult.EXPLICIT_DENY


@PROFILE
@given(policy_sets(), requests(), statements())
def test_adding_an_allow_never_denies_what_was_allowed(
    sets: tuple[list[list[dict[str, object]]], list[dict[str, object]] | None],
    request: Request,
    extra: dict[str, object],
) -> None:
    identity, boundary = sets
    if _evaluate(request, identity, boundary) is DecisionResult.ALLOWED:
        grant = {**extra, "Effect": "Allow"}
        assert _evaluate(request, [*identity, [grant]], boundary) is DecisionResult.ALLOWED


@PROFILE
@given(st.lists(statements(), min_size=1, max_size=5), requests(), requests())
def test_evaluation_is_total(items: list[dict[str, object]], request: Request, other: Request) -> None:
    policies = PolicySet(
        identity=[_policy(items)],
        boundary=_policy(items, PolicyType.BOUNDARY),
        session=[_policy(items, PolicyType.SESSION)],
        scps=[[_policy(items, PolicyType.SCP)]],
    )
    decision = evaluate(request, policies)
    assert decision.result in DecisionResult
    assert isinstance(decision.reason, str) and (decision.reason == "") is decision.allowed
    assert all(m.start_line >= 1 for m in decision.matched)
    assert evaluate(other, policies).result in DecisionResult


@PROFILE
@given(st.lists(statements(), min_size=1, max_size=5), requests())
def test_serialise_then_parse_is_stable_and_keeps_meaning(items: list[dict[str, object]], request: Request) -> None:
    original = _policy(items)
    text = serialise(original)
    again = parse_policy(text, PolicyType.IDENTITY, policy_id="p")
    assert serialise(again) == text
    before = evaluate(request, PolicySet(identity=[original]))
    after = evaluate(request, PolicySet(identity=[again]))
    assert before.result is after.result
    assert [m.statement_index for m in before.matched] == [m.statement_index for m in after.matched]


_KEY_NAMES = ["aws:SourceIp", "AWS:SourceIP", "aws:sourceip", "aws:PrincipalTag/Team", "aws:principaltag/team", "s3:prefix", "S3:Prefix"]


@PROFILE
@given(
    requests(),
    st.lists(st.tuples(st.sampled_from(_KEY_NAMES), st.sampled_from(["a", "B", "10.0.0.1"])), max_size=8),
    st.booleans(),
)
def test_a_request_given_its_lowered_names_is_the_same_request(request: Request, extra: list[tuple[str, str]], short: bool) -> None:
    """``lowered`` (the names lower-cased once, kept by the caller) builds the keys the
    engine reads exactly as lower-casing each name does: the same names in the same
    order, a name repeated in another case at its first place with its last value; a
    tuple of another length is not used."""
    context = dict(request.context)
    context.update(extra)
    plain = Request(request.principal, request.action, request.resource, request.resource_account, context)
    names = lowered_names(context)
    given = Request(
        request.principal,
        request.action,
        request.resource,
        request.resource_account,
        context,
        lowered=names[:-1] if short and names else names,
    )
    assert given == plain
    assert list(given.keys.items()) == list(plain.keys.items())
    assert given.action_lower == plain.action_lower
    policies = PolicySet(
        identity=[
            _policy([{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalTag/team": "a"}}}])
        ]
    )
    assert evaluate(given, policies).result == evaluate(plain, policies).result

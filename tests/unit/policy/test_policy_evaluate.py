"""Combination logic beyond the worked examples: resource-based grants by kind, ordering
of reasons, SCP levels, root, and what a Decision reports."""

from __future__ import annotations

import pytest
from policyhelp import A, B, allow, decide, deny, doc, policy, root, session, trust, user

from tessera.policy import DecisionResult, Effect, PolicySet, PolicyType, Request, evaluate, parse_policy

ALLOWED, EXPLICIT, IMPLICIT = DecisionResult.ALLOWED, DecisionResult.EXPLICIT_DENY, DecisionResult.IMPLICIT_DENY
ROLE = f"arn:aws:iam::{A}:role/Target"
RESOURCE = f"arn:aws:iam::{A}:user/target"


def _resource_policy(principal: object) -> object:
    return policy(
        {"Effect": "Allow", "Principal": principal, "Action": "iam:GetUser", "Resource": "*"}, kind=PolicyType.RESOURCE, policy_id="rbp"
    )


CAPPED = [  # (case, principal element, caller, boundary present, expected)
    ("direct-user-ignores-boundary", {"AWS": f"arn:aws:iam::{A}:user/alice"}, user(), True, ALLOWED),
    ("direct-session-ignores-session-policy", {"AWS": f"arn:aws:sts::{A}:assumed-role/R1/s"}, session("R1", "s"), True, ALLOWED),
    ("role-arn-is-capped-by-boundary", {"AWS": f"arn:aws:iam::{A}:role/R1"}, session("R1", "s"), True, IMPLICIT),
    ("role-arn-without-caps-is-enough", {"AWS": f"arn:aws:iam::{A}:role/R1"}, session("R1", "s"), False, ALLOWED),
    ("account-delegates-to-identity", {"AWS": A}, user(), False, IMPLICIT),
]


@pytest.mark.parametrize(("element", "caller", "with_boundary", "expected"), [c[1:] for c in CAPPED], ids=[c[0] for c in CAPPED])
def test_same_account_resource_policy_grant_depends_on_how_it_names_the_caller(
    element: object, caller: object, with_boundary: bool, expected: DecisionResult
) -> None:
    boundary = policy(allow("s3:*"), kind=PolicyType.BOUNDARY) if with_boundary else None
    decision = decide(
        caller,
        "iam:GetUser",
        RESOURCE,
        resource_policy=_resource_policy(element),  # type: ignore[arg-type]
        boundary=boundary,
    )
    assert decision.result is expected


def test_role_arn_grant_still_needs_the_session_policy() -> None:
    caps = [policy(allow("s3:*"), kind=PolicyType.SESSION)]
    decision = decide(
        session("R1", "s"),
        "iam:GetUser",
        RESOURCE,
        resource_policy=_resource_policy({"AWS": f"arn:aws:iam::{A}:role/R1"}),
        session_policies=caps,
    )
    assert decision.reason == "no session policy allows the iam:GetUser action"


def test_cross_account_without_resource_policy_is_denied() -> None:
    decision = decide(user(), "iam:GetUser", f"arn:aws:iam::{B}:user/x", identity=[policy(allow("*"))])
    assert (decision.result, decision.reason) == (IMPLICIT, "no resource-based policy allows the iam:GetUser action")


def test_trust_policy_is_mandatory_even_for_administrators() -> None:
    admin = [policy(allow("*"))]
    decision = decide(user(), "sts:AssumeRole", ROLE, identity=admin, resource_policy=trust({"AWS": B}))
    assert (decision.result, decision.reason) == (IMPLICIT, "no resource-based policy allows the sts:AssumeRole action")


def test_trust_naming_the_calling_role_needs_its_boundary() -> None:
    trust_policy = trust({"AWS": f"arn:aws:iam::{A}:role/R1"})
    boundary = policy(allow("iam:*"), kind=PolicyType.BOUNDARY)
    caller = session("R1", "s")
    assert decide(caller, "sts:AssumeRole", ROLE, resource_policy=trust_policy).allowed
    capped = decide(caller, "sts:AssumeRole", ROLE, resource_policy=trust_policy, boundary=boundary)
    assert capped.reason == "no permissions boundary allows the sts:AssumeRole action"


def test_deny_in_trust_policy_blocks() -> None:
    trust_policy = policy(
        {"Effect": "Allow", "Principal": {"AWS": A}, "Action": "sts:AssumeRole"},
        {"Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{A}:user/alice"}, "Action": "sts:AssumeRole"},
        kind=PolicyType.TRUST,
        policy_id="trust",
    )
    decision = decide(user(), "sts:AssumeRole", ROLE, identity=[policy(allow("*"))], resource_policy=trust_policy)
    assert (decision.result, decision.reason) == (EXPLICIT, "an explicit deny in a resource-based policy")


DENY_REASONS = [
    ("boundary", {"boundary": policy(deny("*"), kind=PolicyType.BOUNDARY)}, "an explicit deny in a permissions boundary"),
    ("session", {"session_policies": [policy(deny("*"), kind=PolicyType.SESSION)]}, "an explicit deny in a session policy"),
    (
        "scp-named-before-identity",
        {"scps": [[policy(allow("*"), deny("*"), kind=PolicyType.SCP)]], "identity": [policy(deny("*"))]},
        "an explicit deny in a service control policy",
    ),
]


@pytest.mark.parametrize(("policies", "reason"), [d[1:] for d in DENY_REASONS], ids=[d[0] for d in DENY_REASONS])
def test_explicit_deny_reason_names_the_policy_type(policies: dict[str, object], reason: str) -> None:
    policies.setdefault("identity", [policy(allow("*"))])
    decision = decide(session("R", "s"), "iam:GetUser", **policies)  # type: ignore[arg-type]
    assert (decision.result, decision.reason) == (EXPLICIT, reason)


def test_empty_scp_level_allows_nothing() -> None:
    decision = decide(user(), "iam:GetUser", identity=[policy(allow("*"))], scps=[[]])
    assert decision.reason == "no service control policy allows the iam:GetUser action"


def test_root_has_full_access_in_own_account_but_not_across() -> None:
    assert decide(root(), "iam:DeleteUser", RESOURCE).allowed
    other = decide(root(), "iam:GetUser", f"arn:aws:iam::{B}:user/x")
    assert other.reason == "no resource-based policy allows the iam:GetUser action"


def test_root_is_still_subject_to_resource_policy_denies() -> None:
    rbp = policy({"Effect": "Deny", "Principal": {"AWS": A}, "Action": "*", "Resource": "*"}, kind=PolicyType.RESOURCE)
    assert decide(root(), "iam:GetUser", RESOURCE, resource_policy=rbp).result is EXPLICIT


def test_implicit_deny_with_no_policies() -> None:
    decision = decide(user(), "iam:CreateUser")
    assert (decision.result.value, decision.allowed, decision.matched) == ("implicitDeny", False, ())


def test_allowed_decision_lists_allow_statements_with_positions() -> None:
    text = doc(
        {"Sid": "First", "Effect": "Allow", "Action": "iam:Get*", "Resource": "*"},
        {"Sid": "Second", "Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"},
    )
    identity = parse_policy(text, PolicyType.IDENTITY, policy_id="inline:alice/p")
    decision = decide(user(), "iam:GetUser", identity=[identity])
    assert decision.reason == ""
    first, second = decision.matched
    assert (first.policy_id, first.policy_type, first.statement_index, first.sid, first.effect) == (
        "inline:alice/p",
        PolicyType.IDENTITY,
        0,
        "First",
        Effect.ALLOW,
    )
    assert (first.start_line, first.start_column, first.end_line, first.end_column) == (4, 5, 9, 5)
    assert (second.statement_index, second.start_line) == (1, 10)


def test_explicit_deny_lists_every_matching_deny() -> None:
    identity = [policy(deny("iam:*", Sid="A"), deny("*", Sid="B"), allow("*", Sid="C"))]
    decision = decide(user(), "iam:GetUser", identity=identity)
    assert [(m.sid, m.effect) for m in decision.matched] == [("A", Effect.DENY), ("B", Effect.DENY)]


def test_access_denied_message_has_aws_shape() -> None:
    req = Request(user(), "iam:CreateUser", RESOURCE, A, {})
    decision = evaluate(req, PolicySet())
    assert decision.access_denied_message(req) == (
        f"User: arn:aws:iam::{A}:user/alice is not authorized to perform: iam:CreateUser on resource: "
        f"{RESOURCE} because no identity-based policy allows the iam:CreateUser action"
    )


def test_request_context_keys_are_case_insensitive() -> None:
    req = Request(user(), "IAM:GetUser", "*", A, {"AWS:PrincipalTag/TEAM": "red"})
    statement = allow("iam:getuser", Condition={"StringEquals": {"aws:principaltag/team": "red"}})
    assert evaluate(req, PolicySet(identity=[policy(statement)])).allowed


def test_statement_index_narrows_candidates_but_keeps_semantics() -> None:
    statements = [allow(f"svc{i}:Action{i}") for i in range(200)] + [allow("svc7:*"), allow("*:Describe*")]
    identity = [policy(*statements)]
    assert decide(user(), "svc7:Anything", identity=identity).allowed
    assert decide(user(), "svc150:action150", identity=identity).allowed
    assert decide(user(), "ec2:DescribeThings", identity=identity).allowed
    assert not decide(user(), "svc150:Action151", identity=identity).allowed


def test_scp_statements_and_keys_can_be_left_out_of_the_explanation() -> None:
    """The simulator reports an SCP only as a yes/no: the decision can give its matched
    statements and missing keys without the SCPs' ones."""
    scp = policy(
        deny("iam:GetUser", Condition={"StringNotEquals": {"aws:PrincipalTag/clearance": "high"}}),
        allow("*"),
        kind=PolicyType.SCP,
        policy_id="p-scp",
    )
    mine = policy(allow("iam:GetUser", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}}), allow("iam:*"), policy_id="mine")
    denied = decide(user(), "iam:GetUser", identity=[mine], scps=[[scp]])
    assert denied.result is EXPLICIT and [m.policy_id for m in denied.matched] == ["p-scp"]
    assert denied.matched_without_scps == ()
    assert [k.lower() for k in denied.missing_context_keys] == ["aws:principaltag/clearance", "aws:multifactorauthpresent"]
    assert [k.lower() for k in denied.missing_context_keys_without_scps] == ["aws:multifactorauthpresent"]
    allowed = decide(user(), "iam:ListUsers", identity=[mine], scps=[[scp]])
    assert {m.policy_id for m in allowed.matched} == {"p-scp", "mine"}
    assert {m.policy_id for m in allowed.matched_without_scps} == {"mine"}

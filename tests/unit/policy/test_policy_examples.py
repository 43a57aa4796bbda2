"""Worked examples of AWS's policy evaluation, each traced to the AWS page it comes from."""

from __future__ import annotations

import datetime as dt

from policyhelp import A, B, allow, decide, deny, policy, root, session, trust, user

from tessera.policy import DecisionResult, PolicyType, Principal

ALLOWED, EXPLICIT, IMPLICIT = DecisionResult.ALLOWED, DecisionResult.EXPLICIT_DENY, DecisionResult.IMPLICIT_DENY
UTC = dt.UTC


def test_e1_simple_identity_allow() -> None:
    """https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html"""
    alice = [policy(allow("iam:List*"))]
    assert decide(user(), "iam:ListUsers", identity=alice).result is ALLOWED


def test_e2_explicit_deny_wins() -> None:
    """https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html"""
    identity = [
        policy(allow("iam:*"), policy_id="managed"),
        policy(deny("iam:DeleteUser", f"arn:aws:iam::{A}:user/admin*"), policy_id="inline"),
    ]
    denied = decide(user(), "iam:DeleteUser", f"arn:aws:iam::{A}:user/admin1", identity=identity)
    assert denied.result is EXPLICIT
    assert denied.reason == "an explicit deny in an identity-based policy"
    assert [m.policy_id for m in denied.matched] == ["inline"]
    assert decide(user(), "iam:DeleteUser", f"arn:aws:iam::{A}:user/bob", identity=identity).result is ALLOWED


def test_e3_permissions_boundary_caps() -> None:
    """https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html"""
    identity = [policy(allow("iam:*"))]
    boundary = policy(allow(["iam:Get*", "iam:List*"]), kind=PolicyType.BOUNDARY)
    create = decide(user("dev"), "iam:CreateUser", identity=identity, boundary=boundary)
    assert (create.result, create.reason) == (IMPLICIT, "no permissions boundary allows the iam:CreateUser action")
    assert decide(user("dev"), "iam:GetUser", identity=identity, boundary=boundary).result is ALLOWED


def test_e4_trust_policy_naming_the_account_delegates_to_identity_policies() -> None:
    """https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
    (resource-based policies naming an account) and
    https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-user.html"""
    role = f"arn:aws:iam::{A}:role/R"
    trust_policy = trust({"AWS": f"arn:aws:iam::{A}:root"})
    carol = user("carol")
    without = decide(carol, "sts:AssumeRole", role, resource_policy=trust_policy)
    assert (without.result, without.reason) == (IMPLICIT, "no identity-based policy allows the sts:AssumeRole action")
    identity = [policy(allow("sts:AssumeRole", role))]
    assert decide(carol, "sts:AssumeRole", role, identity=identity, resource_policy=trust_policy).allowed


def test_e5_trust_policy_naming_the_user_directly() -> None:
    """https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
    (same-account resource-based policy naming an IAM user)"""
    role = f"arn:aws:iam::{A}:role/R2"
    trust_policy = trust({"AWS": f"arn:aws:iam::{A}:user/carol"})
    carol = user("carol")
    assert decide(carol, "sts:AssumeRole", role, resource_policy=trust_policy).allowed
    denied = decide(carol, "sts:AssumeRole", role, resource_policy=trust_policy, identity=[policy(deny("sts:*"))])
    assert denied.result is EXPLICIT


def test_e6_cross_account_needs_both_sides() -> None:
    """https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html"""
    role = f"arn:aws:iam::{B}:role/Audit"
    dave = user("dave")
    identity = [policy(allow("sts:AssumeRole", role))]
    by_account = trust({"AWS": A})
    assert decide(dave, "sts:AssumeRole", role, identity=identity, resource_policy=by_account).allowed
    assert not decide(dave, "sts:AssumeRole", role, resource_policy=by_account).allowed
    by_user = trust({"AWS": f"arn:aws:iam::{A}:user/dave"})
    assert not decide(dave, "sts:AssumeRole", role, resource_policy=by_user).allowed


def test_e7_session_policy_intersection() -> None:
    """https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session"""
    admin = session("Admin", "s")
    identity = [policy(allow("*"))]
    session_policy = [policy(allow("iam:Get*"), kind=PolicyType.SESSION)]
    assert decide(admin, "iam:GetRole", identity=identity, session_policies=session_policy).allowed
    create = decide(admin, "iam:CreateUser", identity=identity, session_policies=session_policy)
    assert (create.result, create.reason) == (IMPLICIT, "no session policy allows the iam:CreateUser action")


def test_e8_external_id() -> None:
    """https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-user_externalid.html"""
    role = f"arn:aws:iam::{A}:role/Vendor"
    trust_policy = trust({"AWS": B}, Condition={"StringEquals": {"sts:ExternalId": "Unicorn42"}})
    caller = user("partner", B)
    identity = [policy(allow("sts:AssumeRole"))]

    def assume(context: dict[str, object]) -> bool:
        return decide(caller, "sts:AssumeRole", role, identity=identity, resource_policy=trust_policy, context=context).allowed

    assert not assume({})
    assert not assume({"sts:ExternalId": "unicorn42"})
    assert assume({"sts:ExternalId": "Unicorn42"})


def test_e9_mfa_requirement() -> None:
    """https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_mfa_configure-api-require.html"""
    role = f"arn:aws:iam::{A}:role/Mfa"
    trust_policy = trust({"AWS": f"arn:aws:iam::{A}:user/alice"}, Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})
    assert not decide(user(), "sts:AssumeRole", role, resource_policy=trust_policy).allowed
    with_mfa = {"aws:MultiFactorAuthPresent": True}
    assert decide(user(), "sts:AssumeRole", role, resource_policy=trust_policy, context=with_mfa).allowed

    identity = [policy(allow("*"), deny("*", Condition={"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}))]
    assert decide(user(), "iam:ListUsers", identity=identity).result is EXPLICIT  # long-term keys: key absent
    no_mfa_session = {"aws:MultiFactorAuthPresent": False}
    assert decide(user(), "iam:ListUsers", identity=identity, context=no_mfa_session).result is EXPLICIT
    assert decide(user(), "iam:ListUsers", identity=identity, context=with_mfa).allowed


def test_e10_revocation_by_token_issue_time() -> None:
    """https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_revoke-sessions.html"""
    revoke = policy(
        {
            "Sid": "AWSRevokeOlderSessions",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": "2024-05-01T12:00:00Z"}},
        },
        policy_id="AWSRevokeOlderSessions",
    )
    identity = [policy(allow("*")), revoke]
    ops = session("Ops", "s")
    old = decide(ops, "iam:ListUsers", identity=identity, context={"aws:TokenIssueTime": dt.datetime(2024, 5, 1, 11, 59, tzinfo=UTC)})
    assert old.result is EXPLICIT
    assert old.matched[0].sid == "AWSRevokeOlderSessions"
    new = decide(ops, "iam:ListUsers", identity=identity, context={"aws:TokenIssueTime": dt.datetime(2024, 5, 1, 12, 0, 30, tzinfo=UTC)})
    assert new.allowed
    assert decide(user(), "iam:ListUsers", identity=identity).allowed  # long-term keys: key absent


def test_e11_for_all_values_is_vacuously_true() -> None:
    """https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_multi-value-conditions.html"""

    def create(prefix: str, tags: list[str] | None) -> bool:
        statement = allow("iam:CreateUser", Condition={f"{prefix}:StringEquals": {"aws:TagKeys": ["team", "cost"]}})
        context = {} if tags is None else {"aws:TagKeys": tags}
        return decide(user(), "iam:CreateUser", identity=[policy(statement)], context=context).allowed

    assert create("ForAllValues", ["team", "cost"])
    assert not create("ForAllValues", ["team", "owner"])
    assert create("ForAllValues", None)
    assert not create("ForAnyValue", None)


def test_e12_service_control_policies() -> None:
    """https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html"""
    full = policy(allow("*"), kind=PolicyType.SCP, policy_id="p-FullAWSAccess")
    no_users = policy(deny("iam:CreateUser"), kind=PolicyType.SCP, policy_id="p-nousers")
    levels = [[full], [full, no_users], [full]]  # root, OU, account
    admin = [policy(allow("*"))]
    denied = decide(user("admin"), "iam:CreateUser", identity=admin, scps=levels)
    assert (denied.result, denied.reason) == (EXPLICIT, "an explicit deny in a service control policy")
    assert decide(root(), "iam:CreateUser", scps=levels).result is EXPLICIT
    assert decide(user("admin"), "iam:CreateUser", identity=admin, scps=None).allowed  # management account
    detached = [[full], [full], [policy(allow("s3:*"), kind=PolicyType.SCP)]]
    implicit = decide(user("admin"), "iam:ListUsers", identity=admin, scps=detached)
    assert (implicit.result, implicit.reason) == (IMPLICIT, "no service control policy allows the iam:ListUsers action")


def test_e13_role_chaining_with_transitive_tag() -> None:
    """https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html#id_session-tags_role-chaining
    (the engine's part: R2's trust sees the caller session's transitive tag; merging tags
    and rejecting a conflicting key is STS's job)."""
    role2 = f"arn:aws:iam::{A}:role/R2"
    trust_policy = trust({"AWS": A}, Condition={"StringEquals": {"aws:PrincipalTag/Project": "X"}})
    r1 = session("R1", "alice")
    identity = [policy(allow("sts:AssumeRole", role2))]
    assert decide(
        r1, "sts:AssumeRole", role2, identity=identity, resource_policy=trust_policy, context={"aws:PrincipalTag/Project": "X"}
    ).allowed
    assert not decide(
        r1, "sts:AssumeRole", role2, identity=identity, resource_policy=trust_policy, context={"aws:PrincipalTag/Project": "Y"}
    ).allowed


def test_root_cannot_assume_roles() -> None:
    """https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use.html (root cannot assume roles)."""
    anyone = trust("*")
    decision = decide(root(), "sts:AssumeRole", f"arn:aws:iam::{A}:role/R", resource_policy=anyone)
    assert decision.result is IMPLICIT
    assert decision.reason == "roles may not be assumed by root accounts"


def test_federated_user_session_without_session_policy_has_no_permissions() -> None:
    """https://docs.aws.amazon.com/STS/latest/APIReference/API_GetFederationToken.html"""
    fed = Principal("federated-user", f"arn:aws:sts::{A}:federated-user/f", A, role_arn=f"arn:aws:iam::{A}:user/alice", user_id=f"{A}:f")
    identity = [policy(allow("*"))]
    assert not decide(fed, "iam:ListUsers", identity=identity).allowed
    passed = [policy(allow("iam:List*"), kind=PolicyType.SESSION)]
    assert decide(fed, "iam:ListUsers", identity=identity, session_policies=passed).allowed

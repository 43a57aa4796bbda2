"""Action, resource and principal matching, and policy variables (through evaluation)."""

from __future__ import annotations

import pytest
from policyhelp import A, B, allow, decide, policy, root, session, trust, user

from tessera.policy import PolicyType, Principal

ACTIONS = [
    ("exact", "iam:ListUsers", "iam:ListUsers", True),
    ("case-insensitive-name", "iam:listusers", "IAM:ListUsers", True),
    ("star-suffix", "iam:List*", "iam:ListAccessKeys", True),
    ("star-middle", "iam:*AccessKey*", "iam:UpdateAccessKey", True),
    ("star-matches-empty", "iam:Get*", "iam:Get", True),
    ("question-one-char", "iam:Get?ser", "iam:GetUser", True),
    ("question-not-zero", "iam:GetUser?", "iam:GetUser", False),
    ("other-service", "iam:*", "sts:AssumeRole", False),
    ("everything", "*", "organizations:ListAccounts", True),
    ("prefix-miss", "iam:List*", "iam:GetUser", False),
    ("wildcard-service", "*:Get*", "sts:GetCallerIdentity", True),
    ("star-star", "iam:*User*s", "iam:ListUserTags", True),
]


@pytest.mark.parametrize(("pattern", "action", "expected"), [a[1:] for a in ACTIONS], ids=[a[0] for a in ACTIONS])
def test_action_patterns(pattern: str, action: str, expected: bool) -> None:
    assert decide(user(), action, identity=[policy(allow(pattern))]).allowed is expected


def test_not_action_allows_everything_except_listed() -> None:
    statement = {"Effect": "Allow", "NotAction": ["iam:*User*", "sts:*"], "Resource": "*"}
    identity = [policy(statement)]
    assert decide(user(), "iam:ListRoles", identity=identity).allowed
    assert not decide(user(), "iam:DeleteUser", identity=identity).allowed
    assert not decide(user(), "sts:GetFederationToken", identity=identity).allowed


RESOURCES = [
    ("star", "*", "arn:aws:iam::111111111111:user/bob", True),
    ("star-matches-non-arn", "*", "*", True),
    ("path-wildcard", "arn:aws:iam::111111111111:user/*", "arn:aws:iam::111111111111:user/div/Bob", True),
    ("account-wildcard", "arn:aws:iam::*:role/Admin?", "arn:aws:iam::222222222222:role/Admin1", True),
    ("resource-star-crosses-slash-and-colon", "arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b:c", True),
    ("case-sensitive", "arn:aws:iam::111111111111:user/Bob", "arn:aws:iam::111111111111:user/bob", False),
    ("segment-star-cannot-cross-colon", "arn:aws:iam:*:111111111111:user/x", "arn:aws:iam:a:b:111111111111:user/x", False),
    ("region-star-empty", "arn:aws:iam:*:111111111111:user/x", "arn:aws:iam::111111111111:user/x", True),
    ("different-type", "arn:aws:iam::111111111111:user/*", "arn:aws:iam::111111111111:role/x", False),
    ("exact", "arn:aws:iam::111111111111:policy/P", "arn:aws:iam::111111111111:policy/P", True),
    ("non-arn-request", "arn:aws:iam::*:user/*", "*", False),
    # A trailing ``*`` ending an ARN cut short spans the parts left out (IAM User Guide,
    # "IAM JSON policy elements: Resource", wildcards).
    ("short-account-star", "arn:aws:sns:us-east-1:*", "arn:aws:sns:us-east-1:111111111111:topic", True),
    ("short-account-star-other-region", "arn:aws:sns:us-east-1:*", "arn:aws:sns:us-west-2:111111111111:topic", False),
    ("short-region-star", "arn:aws:dynamodb:*", "arn:aws:dynamodb:eu-west-1:111111111111:table/T", True),
    ("short-region-star-other-service", "arn:aws:dynamodb:*", "arn:aws:sns:eu-west-1:111111111111:topic", False),
    ("short-service-star", "arn:aws:*", "arn:aws:iam::111111111111:user/bob", True),
    ("short-service-star-other-partition", "arn:aws:*", "arn:aws-cn:iam::111111111111:user/bob", False),
    ("short-prefix-star", "arn:aws:sns:us-*", "arn:aws:sns:us-east-2:111111111111:a:b", True),
    ("short-prefix-star-miss", "arn:aws:sns:us-*", "arn:aws:sns:eu-west-1:111111111111:a", False),
    ("short-iam-star", "arn:aws:iam::*", "arn:aws:iam::111111111111:user/div/bob", True),
    ("short-star-needs-the-leading-parts", "arn:aws:sns:us-east-1:*", "arn:aws:sns:us-east-1", False),
    ("short-question-is-one-char", "arn:aws:sns:us-east-?:*", "arn:aws:sns:us-east-1:111111111111:t", True),
]


@pytest.mark.parametrize(("pattern", "resource", "expected"), [r[1:] for r in RESOURCES], ids=[r[0] for r in RESOURCES])
def test_resource_patterns(pattern: str, resource: str, expected: bool) -> None:
    decision = decide(user(), "iam:GetUser", resource, identity=[policy(allow("iam:GetUser", pattern))], resource_account="")
    assert decision.allowed is expected


def test_string_like_star_crosses_colons_but_arn_like_does_not() -> None:
    arn = "arn:aws:svc:us-east-2:999999999999:store/abc:111111111111:x/doc"
    pattern = "arn:aws:svc:*:111111111111:x/*"
    for operator, expected in (("StringLike", True), ("ArnLike", False)):
        statement = allow("iam:GetUser", Condition={operator: {"aws:SourceArn": pattern}})
        decision = decide(user(), "iam:GetUser", identity=[policy(statement)], context={"aws:SourceArn": arn})
        assert decision.allowed is expected, operator


def test_short_arn_patterns_in_not_resource_resource_policies_scps_and_session_policies() -> None:
    bob, topic = "arn:aws:iam::111111111111:user/bob", "arn:aws:sns:us-east-1:111111111111:topic"
    not_sns = {"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:sns:*"}
    assert decide(user(), "iam:GetUser", bob, identity=[policy(not_sns)]).allowed
    assert not decide(user(), "sns:Publish", topic, identity=[policy(not_sns)]).allowed
    everything = [policy(allow("*"))]
    scp = [[policy(allow("*", "arn:aws:iam::*"), kind=PolicyType.SCP)]]
    assert decide(user(), "iam:GetUser", bob, identity=everything, scps=scp).allowed
    assert not decide(user(), "sns:Publish", topic, identity=everything, scps=scp).allowed
    narrowed = [policy(allow("*", "arn:aws:sns:us-east-1:*"), kind=PolicyType.SESSION)]
    assert decide(session("R", "s"), "sns:Publish", topic, identity=everything, session_policies=narrowed).allowed
    assert not decide(session("R", "s"), "iam:GetUser", bob, identity=everything, session_policies=narrowed).allowed
    on_role = policy(
        {"Effect": "Allow", "Principal": {"AWS": user().arn}, "Action": "sns:Publish", "Resource": "arn:aws:sns:*"},
        kind=PolicyType.RESOURCE,
    )
    assert decide(user(), "sns:Publish", topic, resource_policy=on_role, resource_account=A).allowed


def test_arn_like_conditions_keep_comparing_six_parts() -> None:
    statement = allow("iam:GetUser", Condition={"ArnLike": {"aws:SourceArn": "arn:aws:sns:*"}})
    decision = decide(user(), "iam:GetUser", identity=[policy(statement)], context={"aws:SourceArn": "arn:aws:sns:us-east-1:1:t"})
    assert not decision.allowed


def test_not_resource_applies_to_everything_else() -> None:
    statement = {"Effect": "Allow", "Action": "iam:*", "NotResource": "arn:aws:iam::111111111111:user/admin*"}
    identity = [policy(statement)]
    assert decide(user(), "iam:GetUser", "arn:aws:iam::111111111111:user/bob", identity=identity).allowed
    assert not decide(user(), "iam:GetUser", "arn:aws:iam::111111111111:user/admin1", identity=identity).allowed


# --------------------------------------------------------------------------- principals

ROLE_R = f"arn:aws:iam::{B}:role/R"
CALLERS = {
    "user-alice": user("alice"),
    "user-bob": user("bob", user_id="AIDAEXAMPLEBOB000001"),
    "root": root(),
    "session-of-R1": session("R1", "s1"),
    "other-account-user": user("eve", B),
    "federated-user": Principal(
        "federated-user", f"arn:aws:sts::{A}:federated-user/fed", A, role_arn=f"arn:aws:iam::{A}:user/alice", user_id=f"{A}:fed"
    ),
}
PRINCIPALS = [
    ("star", "*", {"user-alice", "user-bob", "root", "session-of-R1", "other-account-user", "federated-user"}),
    ("aws-star", {"AWS": "*"}, {"user-alice", "user-bob", "root", "session-of-R1", "other-account-user", "federated-user"}),
    ("account-id", {"AWS": A}, {"user-alice", "user-bob", "root", "session-of-R1", "federated-user"}),
    ("account-root-arn", {"AWS": f"arn:aws:iam::{A}:root"}, {"user-alice", "user-bob", "root", "session-of-R1", "federated-user"}),
    ("user-arn", {"AWS": f"arn:aws:iam::{A}:user/alice"}, {"user-alice", "federated-user"}),
    ("user-unique-id", {"AWS": "AIDAEXAMPLEBOB000001"}, {"user-bob"}),
    ("role-arn-covers-sessions", {"AWS": f"arn:aws:iam::{A}:role/R1"}, {"session-of-R1"}),
    ("role-unique-id", {"AWS": "AROAEXAMPLEROLE00001"}, {"session-of-R1"}),
    ("session-arn", {"AWS": f"arn:aws:sts::{A}:assumed-role/R1/s1"}, {"session-of-R1"}),
    ("other-session-arn", {"AWS": f"arn:aws:sts::{A}:assumed-role/R1/s2"}, set()),
    ("federated-user-arn", {"AWS": f"arn:aws:sts::{A}:federated-user/fed"}, {"federated-user"}),
    ("other-account", {"AWS": B}, {"other-account-user"}),
    ("service-only", {"Service": "ec2.amazonaws.com"}, set()),
]


@pytest.mark.parametrize(("element", "expected"), [p[1:] for p in PRINCIPALS], ids=[p[0] for p in PRINCIPALS])
def test_principal_element_names_callers(element: object, expected: set[str]) -> None:
    """Every caller is given an identity Allow so only the trust policy's Principal decides
    (role trust is in account B, so every caller except B's is cross-account)."""
    trust_policy = trust(element, ["sts:AssumeRole", "sts:TagSession"])
    identity = [policy(allow("sts:*"))]
    matched = {
        name
        for name, caller in CALLERS.items()
        if decide(
            caller,
            "sts:TagSession",
            ROLE_R,
            identity=identity,
            resource_policy=trust_policy,
            session_policies=[policy(allow("*"))] if caller.kind == "federated-user" else (),
        ).allowed
    }
    assert matched == expected


def test_not_principal_excludes_the_named_principal() -> None:
    resource_policy = policy(
        {"Effect": "Deny", "NotPrincipal": {"AWS": f"arn:aws:iam::{A}:user/alice"}, "Action": "*", "Resource": "*"},
        {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
        kind=PolicyType.RESOURCE,
    )
    resource = f"arn:aws:iam::{A}:role/X"
    assert decide(user("alice"), "iam:GetRole", resource, resource_policy=resource_policy).allowed
    assert decide(user("bob"), "iam:GetRole", resource, resource_policy=resource_policy).result.value == "explicitDeny"


def test_service_principal_matches_only_its_service() -> None:
    trust_policy = trust({"Service": "ec2.amazonaws.com"})
    ec2 = Principal("service", "ec2.amazonaws.com", "")
    lam = Principal("service", "lambda.amazonaws.com", "")
    assert decide(ec2, "sts:AssumeRole", ROLE_R, resource_policy=trust_policy).allowed
    assert not decide(lam, "sts:AssumeRole", ROLE_R, resource_policy=trust_policy).allowed


def test_web_identity_matches_federated_provider_only() -> None:
    trust_policy = trust(
        {"Federated": "accounts.google.com"},
        "sts:AssumeRoleWithWebIdentity",
        Condition={"StringEquals": {"accounts.google.com:aud": "app"}},
    )
    google = Principal("web-identity", "accounts.google.com", "")
    ok = decide(google, "sts:AssumeRoleWithWebIdentity", ROLE_R, resource_policy=trust_policy, context={"accounts.google.com:aud": "app"})
    wrong_aud = decide(
        google, "sts:AssumeRoleWithWebIdentity", ROLE_R, resource_policy=trust_policy, context={"accounts.google.com:aud": "other"}
    )
    assert ok.allowed and not wrong_aud.allowed
    anyone = trust("*", "sts:AssumeRoleWithWebIdentity")
    assert not decide(google, "sts:AssumeRoleWithWebIdentity", ROLE_R, resource_policy=anyone).allowed


# --------------------------------------------------------------------------- policy variables

HOME = f"arn:aws:iam::{A}:user/${{aws:username}}"
VARIABLES = [
    ("username-own", allow("iam:*", HOME), f"arn:aws:iam::{A}:user/alice", {}, True),
    ("username-other", allow("iam:*", HOME), f"arn:aws:iam::{A}:user/bob", {}, False),
    (
        "principal-tag",
        allow("iam:*", f"arn:aws:iam::{A}:user/${{aws:PrincipalTag/team}}/*"),
        f"arn:aws:iam::{A}:user/red/x",
        {"aws:principaltag/TEAM": "red"},
        True,
    ),
    ("key-lookup-case-insensitive", allow("iam:*", f"arn:aws:iam::{A}:user/${{AWS:UserName}}"), f"arn:aws:iam::{A}:user/alice", {}, True),
    (
        "missing-key-matches-nothing",
        allow("iam:*", f"arn:aws:iam::{A}:user/${{aws:PrincipalTag/team}}*"),
        f"arn:aws:iam::{A}:user/anything",
        {},
        False,
    ),
    (
        "default-value",
        allow("iam:*", f"arn:aws:iam::{A}:user/${{aws:PrincipalTag/team, 'shared'}}/*"),
        f"arn:aws:iam::{A}:user/shared/x",
        {},
        True,
    ),
    (
        "default-not-used-when-present",
        allow("iam:*", f"arn:aws:iam::{A}:user/${{aws:PrincipalTag/team, 's'}}/*"),
        f"arn:aws:iam::{A}:user/s/x",
        {"aws:PrincipalTag/team": "red"},
        False,
    ),
    (
        "substituted-star-is-literal",
        allow("iam:*", f"arn:aws:iam::{A}:user/${{aws:PrincipalTag/team}}"),
        f"arn:aws:iam::{A}:user/anything",
        {"aws:PrincipalTag/team": "*"},
        False,
    ),
    (
        "substituted-star-matches-itself",
        allow("iam:*", f"arn:aws:iam::{A}:user/${{aws:PrincipalTag/team}}"),
        f"arn:aws:iam::{A}:user/*",
        {"aws:PrincipalTag/team": "*"},
        True,
    ),
    ("fixed-star", allow("iam:*", f"arn:aws:iam::{A}:user/a${{*}}"), f"arn:aws:iam::{A}:user/a*", {}, True),
    ("fixed-star-not-wildcard", allow("iam:*", f"arn:aws:iam::{A}:user/a${{*}}"), f"arn:aws:iam::{A}:user/ab", {}, False),
    ("fixed-question", allow("iam:*", f"arn:aws:iam::{A}:user/a${{?}}"), f"arn:aws:iam::{A}:user/a?", {}, True),
    ("fixed-dollar", allow("iam:*", f"arn:aws:iam::{A}:user/${{$}}x"), f"arn:aws:iam::{A}:user/$x", {}, True),
    (
        "multivalued-key-is-not-a-variable",
        allow("iam:*", f"arn:aws:iam::{A}:user/${{aws:TagKeys}}"),
        f"arn:aws:iam::{A}:user/a",
        {"aws:TagKeys": ["a"]},
        False,
    ),
    ("only-in-resource-part", allow("iam:*", "arn:aws:iam::${aws:PrincipalAccount}:user/x"), f"arn:aws:iam::{A}:user/x", {}, False),
    ("userid", allow("iam:*", f"arn:aws:iam::{A}:user/${{aws:userid}}"), f"arn:aws:iam::{A}:user/AIDAEXAMPLEUSER00001", {}, True),
    (
        "source-identity-in-condition",
        allow("iam:*", Condition={"StringEquals": {"aws:PrincipalTag/owner": "${aws:SourceIdentity}"}}),
        "*",
        {"aws:SourceIdentity": "jo", "aws:PrincipalTag/owner": "jo"},
        True,
    ),
    (
        "arn-condition-variable",
        allow("iam:*", Condition={"ArnLike": {"aws:SourceArn": "arn:aws:iam::*:user/${aws:username}"}}),
        "*",
        {"aws:SourceArn": f"arn:aws:iam::{A}:user/alice"},
        True,
    ),
    (
        "negated-with-missing-variable",
        allow("iam:*", Condition={"StringNotEquals": {"aws:PrincipalTag/owner": "${aws:SourceIdentity}"}}),
        "*",
        {"aws:PrincipalTag/owner": "jo"},
        True,
    ),
    (
        "positive-with-missing-variable",
        allow("iam:*", Condition={"StringEquals": {"aws:PrincipalTag/owner": "${aws:SourceIdentity}"}}),
        "*",
        {"aws:PrincipalTag/owner": "jo"},
        False,
    ),
    (
        "string-like-with-variable",
        allow("iam:*", Condition={"StringLike": {"aws:PrincipalTag/path": "${aws:username}/*"}}),
        "*",
        {"aws:PrincipalTag/path": "alice/x/y"},
        True,
    ),
    (
        "ignore-case-with-variable",
        allow("iam:*", Condition={"StringEqualsIgnoreCase": {"aws:PrincipalTag/owner": "${aws:username}"}}),
        "*",
        {"aws:PrincipalTag/owner": "ALICE"},
        True,
    ),
    (
        "current-time-as-variable",
        allow("iam:*", Condition={"StringLike": {"aws:PrincipalTag/day": "${aws:CurrentTime}"}}),
        "*",
        {"aws:CurrentTime": __import__("datetime").datetime(2024, 1, 2, 3, 4, 5), "aws:PrincipalTag/day": "2024-01-02T03:04:05Z"},
        True,
    ),
]


@pytest.mark.parametrize(("statement", "resource", "context", "expected"), [v[1:] for v in VARIABLES], ids=[v[0] for v in VARIABLES])
def test_policy_variables(statement: dict[str, object], resource: str, context: dict[str, object], expected: bool) -> None:
    decision = decide(user(), "iam:GetUser", resource, identity=[policy(statement)], context=context)
    assert decision.allowed is expected


def test_version_2008_treats_variables_as_literal_text() -> None:
    identity = [policy(allow("iam:*", HOME), version="2008-10-17")]
    assert not decide(user(), "iam:GetUser", f"arn:aws:iam::{A}:user/alice", identity=identity).allowed
    literal = f"arn:aws:iam::{A}:user/${{aws:username}}"
    assert decide(user(), "iam:GetUser", literal, identity=identity).allowed


def test_missing_variable_is_reported_as_missing_context_key() -> None:
    identity = [policy(allow("iam:*", f"arn:aws:iam::{A}:user/${{aws:PrincipalTag/team}}"))]
    decision = decide(user(), "iam:GetUser", f"arn:aws:iam::{A}:user/x", identity=identity)
    assert decision.missing_context_keys == ("aws:PrincipalTag/team",)

"""The simulators as AWS answers them: results per action over several resources,
cross-account rules only with a resource-based policy, context keys derived from the
principal and typed from ContextEntries, and the GetContextKeysFor* operations."""

from __future__ import annotations

from typing import Any

import pytest
from iamhandlers import ACCOUNT, Call, user_arn
from policies import allow, deny, policy

from tessera.errors import AccessDenied, InvalidInputException

OTHER = "444455556666"


def entry(name: str, key_type: str, *values: str) -> dict[str, Any]:
    return {"ContextKeyName": name, "ContextKeyType": key_type, "ContextKeyValues": list(values)}


def custom(call: Call, policies: list[str], action: str = "s3:GetObject", **params: Any) -> dict[str, Any]:
    result: dict[str, Any] = call("SimulateCustomPolicy", PolicyInputList=policies, ActionNames=[action], **params)["EvaluationResults"][0]
    return result


# -- several resources ----------------------------------------------------------------------
def test_one_result_per_action_aggregates_its_resources_most_restrictive_first(call: Call) -> None:
    text = policy(allow("s3:GetObject"), deny("s3:GetObject", "arn:aws:s3:::secret/*"))
    resources = ["arn:aws:s3:::public/a", "arn:aws:s3:::secret/b"]
    results = call("SimulateCustomPolicy", PolicyInputList=[text], ActionNames=["s3:GetObject", "s3:PutObject"], ResourceArns=resources)
    get, put = results["EvaluationResults"]
    assert get["EvalActionName"] == "s3:GetObject" and get["EvalDecision"] == "explicitDeny"
    assert [(r["EvalResourceName"], r["EvalResourceDecision"]) for r in get["ResourceSpecificResults"]] == [
        ("arn:aws:s3:::public/a", "allowed"),
        ("arn:aws:s3:::secret/b", "explicitDeny"),
    ]
    # the top-level statements are those of the aggregate decision: the deny alone
    assert len(get["MatchedStatements"]) == 1 and get["MatchedStatements"] == get["ResourceSpecificResults"][1]["MatchedStatements"]
    assert put["EvalDecision"] == "implicitDeny" and put["MatchedStatements"] == []
    # same account, resources named: EvalDecisionDetails present and empty
    assert get["EvalDecisionDetails"] == {} and "EvalDecisionDetails" not in get["ResourceSpecificResults"][0]


def test_without_resource_arns_no_resource_specific_results_nor_decision_details(call: Call) -> None:
    result = custom(call, [policy(allow("s3:GetObject"))])
    assert result["EvalResourceName"] == "*" and result["EvalDecision"] == "allowed"
    assert "ResourceSpecificResults" not in result and "EvalDecisionDetails" not in result


# -- accounts ---------------------------------------------------------------------------------
def test_a_policy_naming_another_account_is_evaluated_as_written_without_a_resource_policy(call: Call) -> None:
    table = f"arn:aws:dynamodb:us-east-1:{OTHER}:table/Books"
    result = custom(call, [policy(allow("dynamodb:GetItem", table))], "dynamodb:GetItem", ResourceArns=[table])
    assert result["EvalDecision"] == "allowed"
    assert result["EvalDecisionDetails"] == {}


def test_cross_account_with_a_resource_policy_needs_both_sides(call: Call) -> None:
    caller = f"arn:aws:iam::{ACCOUNT}:user/alice"
    bucket = "arn:aws:s3:::shared/report"
    identity = policy(allow("s3:GetObject", "arn:aws:s3:::shared/*"))
    trusting = policy({"Effect": "Allow", "Principal": {"AWS": caller}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared/*"})
    silent = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"}, "Action": "s3:GetObject", "Resource": "*"})
    owner = f"arn:aws:iam::{OTHER}:root"
    both = custom(call, [identity], ResourceArns=[bucket], ResourcePolicy=trusting, ResourceOwner=owner, CallerArn=caller)
    assert both["EvalDecision"] == "allowed"
    details = {"IAM Policy": "allowed", "Resource Policy": "allowed"}
    assert both["EvalDecisionDetails"] == details and both["ResourceSpecificResults"][0]["EvalDecisionDetails"] == details
    one = custom(call, [identity], ResourceArns=[bucket], ResourcePolicy=silent, ResourceOwner=owner, CallerArn=caller)
    assert one["EvalDecision"] == "implicitDeny"
    assert one["EvalDecisionDetails"] == {"IAM Policy": "allowed", "Resource Policy": "implicitDeny"}
    # the same resource policy in the caller's own account (no ResourceOwner): the identity grant suffices
    same = custom(call, [identity], ResourceArns=[bucket], ResourcePolicy=silent, CallerArn=caller)
    assert same["EvalDecision"] == "allowed" and same["EvalDecisionDetails"] == {}


# -- policy variables and principal keys ------------------------------------------------------
def test_principal_simulation_resolves_username_userid_and_principal_tags(call: Call, runtime: Any) -> None:
    call("CreateUser", UserName="alice", Tags=[{"Key": "team", "Value": "blue"}])
    user_id = runtime.view.account(ACCOUNT).user("alice")["id"]
    text = policy(
        allow("s3:GetObject", "arn:aws:s3:::home/${aws:username}/*"),
        allow("s3:PutObject", "arn:aws:s3:::ids/${aws:userid}/*"),
        allow("s3:DeleteObject", "arn:aws:s3:::teams/${aws:PrincipalTag/team}/*"),
    )
    call("PutUserPolicy", UserName="alice", PolicyName="home", PolicyDocument=text)

    def decision(action: str, resource: str, **extra: Any) -> str:
        results = call("SimulatePrincipalPolicy", PolicySourceArn=user_arn("alice"), ActionNames=[action], ResourceArns=[resource], **extra)
        return str(results["EvaluationResults"][0]["EvalDecision"])

    assert decision("s3:GetObject", "arn:aws:s3:::home/alice/x") == "allowed"
    assert decision("s3:GetObject", "arn:aws:s3:::home/bob/x") == "implicitDeny"
    assert decision("s3:PutObject", f"arn:aws:s3:::ids/{user_id}/x") == "allowed"
    assert decision("s3:DeleteObject", "arn:aws:s3:::teams/blue/x") == "allowed"
    assert decision("s3:DeleteObject", "arn:aws:s3:::teams/red/x") == "implicitDeny"
    # ContextEntries override what the principal gives
    red = [entry("aws:PrincipalTag/team", "string", "red")]
    assert decision("s3:DeleteObject", "arn:aws:s3:::teams/red/x", ContextEntries=red) == "allowed"
    # CallerArn: the simulated caller is Bob (known by his ARN alone)
    assert decision("s3:GetObject", "arn:aws:s3:::home/bob/x", CallerArn=user_arn("bob")) == "allowed"


def test_custom_simulation_takes_the_username_from_caller_arn_and_reports_what_is_missing(call: Call) -> None:
    text = policy(allow("s3:GetObject", "arn:aws:s3:::home/${aws:username}/*", Condition={"StringEquals": {"aws:userid": "AIDAEXAMPLE"}}))
    result = custom(call, [text], ResourceArns=["arn:aws:s3:::home/carol/x"], CallerArn=user_arn("carol"))
    assert result["EvalDecision"] == "implicitDeny" and result["MissingContextValues"] == ["aws:userid"]
    assert result["ResourceSpecificResults"][0]["MissingContextValues"] == ["aws:userid"]
    given = custom(
        call,
        [text],
        ResourceArns=["arn:aws:s3:::home/carol/x"],
        CallerArn=user_arn("carol"),
        ContextEntries=[entry("aws:userid", "string", "AIDAEXAMPLE")],
    )
    assert given["EvalDecision"] == "allowed" and given["MissingContextValues"] == []
    # without CallerArn nothing is derived: the variable is missing
    anonymous = custom(call, [text], ResourceArns=["arn:aws:s3:::home/carol/x"])
    assert anonymous["EvalDecision"] == "implicitDeny" and set(anonymous["MissingContextValues"]) == {"aws:username", "aws:userid"}


# -- typed context entries --------------------------------------------------------------------
TYPED = [
    ("NumericLessThan", "s3:max-keys", "10", "numeric", ["5"], ["50"]),
    ("NumericEquals", "a:n", "3", "numericList", ["1", "3"], ["1", "2"]),
    ("Bool", "aws:SecureTransport", "true", "boolean", ["TRUE"], ["false"]),
    ("ForAnyValue:Bool", "a:flags", "true", "booleanList", ["false", "true"], ["false"]),
    ("IpAddress", "aws:SourceIp", "203.0.113.0/24", "ip", ["203.0.113.9"], ["198.51.100.1"]),
    ("ForAnyValue:IpAddress", "a:ips", "10.0.0.0/8", "ipList", ["192.0.2.1", "10.1.2.3"], ["192.0.2.1"]),
    ("DateGreaterThan", "aws:CurrentTime", "2026-01-01T00:00:00Z", "date", ["2026-06-01T00:00:00Z"], ["2025-06-01T00:00:00Z"]),
    ("ForAnyValue:DateLessThan", "a:dates", "2026-01-01T00:00:00Z", "dateList", ["1700000000"], ["2030-01-01"]),
    ("BinaryEquals", "a:bin", "QUJD", "binary", ["QUJD"], ["QUJE"]),
    ("ForAnyValue:BinaryEquals", "a:bins", "QUJD", "binaryList", ["QUJE", "QUJD"], ["QUJE"]),
    ("ForAllValues:StringLike", "aws:TagKeys", "team*", "stringList", ["team", "teamlead"], ["team", "cost"]),
]


@pytest.mark.parametrize(("operator", "key", "value", "key_type", "allowed", "denied"), TYPED, ids=[t[3] for t in TYPED])
def test_every_context_key_type_is_read_as_its_type(
    call: Call, operator: str, key: str, value: str, key_type: str, allowed: list[str], denied: list[str]
) -> None:
    text = policy(allow("s3:GetObject", Condition={operator: {key: value}}))
    assert custom(call, [text], ContextEntries=[entry(key, key_type, *allowed)])["EvalDecision"] == "allowed"
    assert custom(call, [text], ContextEntries=[entry(key, key_type, *denied)])["EvalDecision"] == "implicitDeny"


BAD = [
    ("numeric", ["ten"]),
    ("numericList", ["1", "x"]),
    ("boolean", ["yes"]),
    ("ip", ["300.1.1.1"]),
    ("ipList", ["10.0.0.1", "nope"]),
    ("binary", ["***"]),
    ("date", ["yesterday"]),
    ("dateList", ["2026-13-45"]),
    ("string", ["a", "b"]),  # several values for a single-valued type
    ("numeric", ["1", "2"]),
]


@pytest.mark.parametrize(("key_type", "values"), BAD, ids=[f"{t}-{v[-1]}" for t, v in BAD])
def test_a_value_its_type_cannot_read_is_invalid_input(call: Call, key_type: str, values: list[str]) -> None:
    with pytest.raises(InvalidInputException):
        custom(call, [policy(allow("s3:GetObject"))], ContextEntries=[entry("a:key", key_type, *values)])


# -- decision details -----------------------------------------------------------------------
def test_boundary_detail_aggregates_the_resources(call: Call) -> None:
    result = custom(
        call,
        [policy(allow("s3:*"))],
        PermissionsBoundaryPolicyInputList=[policy(allow("s3:GetObject", "arn:aws:s3:::open/*"))],
        ResourceArns=["arn:aws:s3:::open/a", "arn:aws:s3:::closed/a"],
    )
    assert result["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": False}
    per = [r["PermissionsBoundaryDecisionDetail"]["AllowedByPermissionsBoundary"] for r in result["ResourceSpecificResults"]]
    assert per == [True, False]


# -- GetContextKeysFor* -------------------------------------------------------------------------
KEYED = policy(
    allow("dynamodb:GetItem", "arn:aws:dynamodb:us-west-2:111122223333:table/${aws:username}"),
    allow(
        "s3:GetObject", Condition={"DateGreaterThan": {"aws:CurrentTime": "2026-01-01T00:00:00Z"}, "StringEquals": {"AWS:CURRENTTIME": "x"}}
    ),
)


def test_context_keys_for_custom_policy(call: Call) -> None:
    other = policy(allow("s3:*", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))
    keys = call("GetContextKeysForCustomPolicy", PolicyInputList=[KEYED, other])["ContextKeyNames"]
    assert keys == ["aws:username", "aws:CurrentTime", "aws:SourceIp"]
    assert call("GetContextKeysForCustomPolicy", PolicyInputList=[policy(allow("s3:*"))])["ContextKeyNames"] == []
    with pytest.raises(InvalidInputException):
        call("GetContextKeysForCustomPolicy", PolicyInputList=["{"])


def test_context_keys_for_principal_policy_include_groups_and_extra_inputs(call: Call) -> None:
    call("CreateUser", UserName="dana")
    call("CreateGroup", GroupName="readers")
    call("AddUserToGroup", GroupName="readers", UserName="dana")
    call("PutGroupPolicy", GroupName="readers", PolicyName="g", PolicyDocument=KEYED)
    extra = policy(allow("s3:*", Condition={"StringEquals": {"s3:prefix": "home/"}}))
    keys = call("GetContextKeysForPrincipalPolicy", PolicySourceArn=user_arn("dana"), PolicyInputList=[extra])["ContextKeyNames"]
    assert keys == ["aws:username", "aws:CurrentTime", "s3:prefix"]


def test_context_keys_for_principal_policy_are_authorized_on_the_principal(call: Call, user_with_policy: Any) -> None:
    call("CreateUser", UserName="erin")
    call("PutUserPolicy", UserName="erin", PolicyName="p", PolicyDocument=KEYED)
    nobody = user_with_policy("nobody", policy(allow("iam:GetContextKeysForCustomPolicy")))
    with pytest.raises(AccessDenied, match=f"iam:GetContextKeysForPrincipalPolicy on resource: {user_arn('erin')}"):
        call("GetContextKeysForPrincipalPolicy", caller=nobody, PolicySourceArn=user_arn("erin"))
    assert call("GetContextKeysForCustomPolicy", caller=nobody, PolicyInputList=[KEYED])["ContextKeyNames"][0] == "aws:username"
    reader = user_with_policy("reader", policy(allow("iam:GetContextKeysForPrincipalPolicy", user_arn("erin"))))
    assert call("GetContextKeysForPrincipalPolicy", caller=reader, PolicySourceArn=user_arn("erin"))["ContextKeyNames"] == [
        "aws:username",
        "aws:CurrentTime",
    ]
    with pytest.raises(AccessDenied):
        call("GetContextKeysForCustomPolicy", caller=reader, PolicyInputList=[KEYED])


def test_a_resource_policy_needs_a_caller_unless_the_source_is_a_user(call: Call) -> None:
    """AWS: CallerArn gives the resource policy's Principal element a value to match."""
    resource_policy = policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"})
    with pytest.raises(InvalidInputException, match="CallerArn"):
        custom(call, [policy(allow("s3:GetObject"))], ResourcePolicy=resource_policy)
    call("CreateUser", UserName="gina")
    call(
        "CreateRole",
        RoleName="worker",
        AssumeRolePolicyDocument=policy({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}),
    )
    role = f"arn:aws:iam::{ACCOUNT}:role/worker"
    params = {"ActionNames": ["s3:GetObject"], "ResourcePolicy": resource_policy}
    with pytest.raises(InvalidInputException, match="CallerArn"):
        call("SimulatePrincipalPolicy", PolicySourceArn=role, **params)
    assert call("SimulatePrincipalPolicy", PolicySourceArn=role, CallerArn=user_arn("gina"), **params)["EvaluationResults"]
    result = call("SimulatePrincipalPolicy", PolicySourceArn=user_arn("gina"), **params)["EvaluationResults"][0]
    assert result["EvalDecision"] == "allowed"  # the resource policy names everyone, in the user's own account


def test_a_trust_policy_as_resource_policy_decides_assume_role_as_assume_role_does(call: Call) -> None:
    """A role's resource-based policy is its trust policy: mandatory even in the same
    account; naming the user is enough alone; naming the account needs the user's own
    policy; an explicit deny wins."""
    for name in ("named", "admin", "plain", "denied"):
        call("CreateUser", UserName=name)
    call("PutUserPolicy", UserName="admin", PolicyName="all", PolicyDocument=policy(allow("*")))
    call("PutUserPolicy", UserName="denied", PolicyName="all", PolicyDocument=policy(allow("*")))
    role = f"arn:aws:iam::{ACCOUNT}:role/target"
    by_name = policy({"Effect": "Allow", "Principal": {"AWS": user_arn("named")}, "Action": "sts:AssumeRole"})
    by_account = policy(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"},
        {"Effect": "Deny", "Principal": {"AWS": user_arn("denied")}, "Action": "sts:AssumeRole"},
    )

    def decision(user: str, trust: str, action: str = "sts:AssumeRole") -> str:
        params = {"ActionNames": [action], "ResourceArns": [role], "ResourcePolicy": trust}
        return str(call("SimulatePrincipalPolicy", PolicySourceArn=user_arn(user), **params)["EvaluationResults"][0]["EvalDecision"])

    assert decision("named", by_name) == "allowed"  # no identity policy needed
    assert decision("admin", by_name) == "implicitDeny"  # allowed by its own policy, but not trusted
    assert decision("admin", by_account) == "allowed"
    assert decision("plain", by_account) == "implicitDeny"  # the account delegates to the user's own policies
    assert decision("denied", by_account) == "explicitDeny"
    # another action on the role: the trust policy does not grant it
    assert decision("admin", by_name, "iam:GetRole") == "allowed"

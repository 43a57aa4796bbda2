"""The policy simulator, and authorization of IAM operations for non-root callers."""

from __future__ import annotations

import pytest
from iamhandlers import ACCOUNT, Call, user_arn
from policies import allow, deny, policy

from tessera.errors import AccessDenied, InvalidInputException, NoSuchEntityException


# -- SimulateCustomPolicy --------------------------------------------------------------------
def test_custom_policy_allows_and_reports_the_matching_statement(call: Call) -> None:
    text = '{\n  "Version": "2012-10-17",\n  "Statement": [\n    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}\n  ]\n}'
    result = call("SimulateCustomPolicy", PolicyInputList=[text], ActionNames=["s3:GetObject", "s3:PutObject"])
    allowed, denied = result["EvaluationResults"]
    line = text.splitlines()[3]
    assert allowed["EvalDecision"] == "allowed" and allowed["EvalResourceName"] == "*"
    assert allowed["MatchedStatements"] == [
        {
            "SourcePolicyId": "PolicyInputList.1",
            "SourcePolicyType": "none",
            "StartPosition": {"Line": 4, "Column": line.index("{") + 1},
            "EndPosition": {"Line": 4, "Column": line.index("}") + 1},
        }
    ]
    assert denied["EvalDecision"] == "implicitDeny" and denied["MatchedStatements"] == []


def test_explicit_deny_wins_in_simulation(call: Call) -> None:
    result = call(
        "SimulateCustomPolicy",
        PolicyInputList=[policy(allow("s3:*")), policy(deny("s3:DeleteBucket"))],
        ActionNames=["s3:DeleteBucket"],
    )["EvaluationResults"][0]
    assert result["EvalDecision"] == "explicitDeny"
    assert [m["SourcePolicyId"] for m in result["MatchedStatements"]] == ["PolicyInputList.2"]


def test_context_entries_feed_conditions_and_missing_keys_are_reported(call: Call) -> None:
    conditional = policy(allow("s3:GetObject", Condition={"StringEquals": {"aws:PrincipalTag/team": "blue"}}))
    missing = call("SimulateCustomPolicy", PolicyInputList=[conditional], ActionNames=["s3:GetObject"])
    assert missing["EvaluationResults"][0]["MissingContextValues"] == ["aws:PrincipalTag/team"]
    entry = {"ContextKeyName": "aws:PrincipalTag/team", "ContextKeyValues": ["blue"], "ContextKeyType": "string"}
    given = call("SimulateCustomPolicy", PolicyInputList=[conditional], ActionNames=["s3:GetObject"], ContextEntries=[entry])
    assert given["EvaluationResults"][0]["EvalDecision"] == "allowed"


def test_resource_specific_results_for_several_resources(call: Call) -> None:
    text = policy(allow("s3:GetObject", "arn:aws:s3:::public/*"))
    result = call(
        "SimulateCustomPolicy",
        PolicyInputList=[text],
        ActionNames=["s3:GetObject"],
        ResourceArns=["arn:aws:s3:::public/a", "arn:aws:s3:::private/b"],
    )["EvaluationResults"][0]
    assert result["EvalDecision"] == "implicitDeny" and result["EvalResourceName"] == "*"
    per = {r["EvalResourceName"]: r["EvalResourceDecision"] for r in result["ResourceSpecificResults"]}
    assert per == {"arn:aws:s3:::public/a": "allowed", "arn:aws:s3:::private/b": "implicitDeny"}


def test_boundary_input_caps_the_decision(call: Call) -> None:
    result = call(
        "SimulateCustomPolicy",
        PolicyInputList=[policy(allow("s3:*"))],
        PermissionsBoundaryPolicyInputList=[policy(allow("s3:GetObject"))],
        ActionNames=["s3:PutObject"],
    )["EvaluationResults"][0]
    assert result["EvalDecision"] == "implicitDeny"
    assert result["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": False}


def test_malformed_simulation_input_is_invalid_input(call: Call) -> None:
    with pytest.raises(InvalidInputException):
        call("SimulateCustomPolicy", PolicyInputList=["{"], ActionNames=["s3:GetObject"])


def test_simulation_results_paginate(call: Call) -> None:
    actions = [f"s3:Op{i}" for i in range(5)]
    first = call("SimulateCustomPolicy", PolicyInputList=[policy(allow("s3:*"))], ActionNames=actions, MaxItems=3)
    rest = call("SimulateCustomPolicy", PolicyInputList=[policy(allow("s3:*"))], ActionNames=actions, Marker=first["Marker"])
    assert [r["EvalActionName"] for r in first["EvaluationResults"] + rest["EvaluationResults"]] == actions


# -- SimulatePrincipalPolicy -----------------------------------------------------------------
def test_principal_simulation_includes_group_and_managed_policies(call: Call) -> None:
    call("CreateUser", UserName="u")
    call("CreateGroup", GroupName="g")
    call("AddUserToGroup", GroupName="g", UserName="u")
    call("PutGroupPolicy", GroupName="g", PolicyName="group-inline", PolicyDocument=policy(allow("s3:GetObject")))
    call("AttachUserPolicy", UserName="u", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    results = call(
        "SimulatePrincipalPolicy", PolicySourceArn=user_arn("u"), ActionNames=["s3:GetObject", "iam:ListUsers", "ec2:RunInstances"]
    )["EvaluationResults"]
    assert [r["EvalDecision"] for r in results] == ["allowed", "allowed", "implicitDeny"]
    assert results[0]["MatchedStatements"][0]["SourcePolicyId"] == "group-inline"
    assert results[0]["MatchedStatements"][0]["SourcePolicyType"] == "group"
    assert results[1]["MatchedStatements"][0] | {"StartPosition": None, "EndPosition": None} == {
        "SourcePolicyId": "IAMReadOnlyAccess",
        "SourcePolicyType": "aws-managed",
        "StartPosition": None,
        "EndPosition": None,
    }


def test_principal_simulation_of_missing_entity(call: Call) -> None:
    with pytest.raises(NoSuchEntityException):
        call("SimulatePrincipalPolicy", PolicySourceArn=user_arn("ghost"), ActionNames=["s3:GetObject"])


# -- authorization of IAM operations ---------------------------------------------------------
def test_user_without_permission_is_denied_before_learning_whether_the_user_exists(call: Call, user_with_policy) -> None:
    nobody = user_with_policy("nobody", None)
    with pytest.raises(AccessDenied, match=f"iam:GetUser on resource: {user_arn('ghost')}"):
        call("GetUser", caller=nobody, UserName="ghost")


def test_allowed_then_explicit_deny_wins(call: Call, user_with_policy, runtime) -> None:
    admin = user_with_policy("admin", policy(allow("iam:CreateUser")))
    call("CreateUser", caller=admin, UserName="made")
    call("PutUserPolicy", UserName="admin", PolicyName="deny", PolicyDocument=policy(deny("iam:CreateUser")))
    with pytest.raises(AccessDenied, match="explicit deny"):
        call("CreateUser", caller=admin, UserName="made2")


def test_path_scoped_permission_uses_the_real_user_path(call: Call, user_with_policy) -> None:
    call("CreateUser", UserName="dev", Path="/eng/")
    reader = user_with_policy("reader", policy(allow("iam:GetUser", f"arn:aws:iam::{ACCOUNT}:user/eng/*")))
    assert call("GetUser", caller=reader, UserName="dev")["User"]["Path"] == "/eng/"
    with pytest.raises(AccessDenied):
        call("GetUser", caller=reader, UserName="reader")


def test_resource_tag_condition_on_target_user(call: Call, user_with_policy) -> None:
    call("CreateUser", UserName="blue", Tags=[{"Key": "team", "Value": "blue"}])
    call("CreateUser", UserName="red", Tags=[{"Key": "team", "Value": "red"}])
    condition = {"StringEquals": {"iam:ResourceTag/team": "blue"}}
    tagger = user_with_policy("tagger", policy(allow("iam:TagUser", Condition=condition)))
    call("TagUser", caller=tagger, UserName="blue", Tags=[{"Key": "x", "Value": "1"}])
    with pytest.raises(AccessDenied):
        call("TagUser", caller=tagger, UserName="red", Tags=[{"Key": "x", "Value": "1"}])


def test_request_tag_condition_on_create(call: Call, user_with_policy) -> None:
    condition = {"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}
    creator = user_with_policy("creator", policy(allow("iam:CreateUser"), allow("iam:TagUser", Condition=condition)))
    call("CreateUser", caller=creator, UserName="ok", Tags=[{"Key": "team", "Value": "x"}])
    with pytest.raises(AccessDenied, match="iam:TagUser"):
        call("CreateUser", caller=creator, UserName="no", Tags=[{"Key": "cost", "Value": "x"}])


def test_policy_arn_condition_on_attach(call: Call, user_with_policy) -> None:
    readonly = "arn:aws:iam::aws:policy/IAMReadOnlyAccess"
    condition = {"ArnEquals": {"iam:PolicyARN": readonly}}
    delegate = user_with_policy("delegate", policy(allow("iam:AttachUserPolicy", Condition=condition)))
    call("CreateUser", UserName="target")
    call("AttachUserPolicy", caller=delegate, UserName="target", PolicyArn=readonly)
    with pytest.raises(AccessDenied):
        call("AttachUserPolicy", caller=delegate, UserName="target", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")


def test_permissions_boundary_condition_on_create(call: Call, user_with_policy) -> None:
    boundary = f"arn:aws:iam::{ACCOUNT}:policy/boundary"
    call("CreatePolicy", PolicyName="boundary", PolicyDocument=policy(allow("s3:*")))
    condition = {"StringEquals": {"iam:PermissionsBoundary": boundary}}
    delegate = user_with_policy("delegate", policy(allow("iam:CreateUser", Condition=condition)))
    call("CreateUser", caller=delegate, UserName="bounded", PermissionsBoundary=boundary)
    with pytest.raises(AccessDenied):
        call("CreateUser", caller=delegate, UserName="unbounded")


def test_list_users_authorizes_against_the_path_arn(call: Call, user_with_policy) -> None:
    lister = user_with_policy("lister", policy(allow("iam:ListUsers", f"arn:aws:iam::{ACCOUNT}:user/eng/*")))
    with pytest.raises(AccessDenied, match=f"on resource: arn:aws:iam::{ACCOUNT}:user/ because"):
        call("ListUsers", caller=lister)
    assert call("ListUsers", caller=lister, PathPrefix="/eng/")["Users"] == []

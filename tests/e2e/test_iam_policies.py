"""Managed and inline policies, attachments, boundaries, the simulator and account views,
end to end: real boto3 against ``tessera serve``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from policies import unique
from serverproc import TesseraServer

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
READ_ONLY_IAM = "arn:aws:iam::aws:policy/IAMReadOnlyAccess"


def code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def document(action: str = "s3:GetObject", effect: str = "Allow") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": effect, "Action": action, "Resource": "*"}]})


def test_managed_policy_versions(iam: Any, server: TesseraServer) -> None:
    name = unique("policy")
    policy = iam.create_policy(PolicyName=name, PolicyDocument=document(), Description="d")["Policy"]
    arn = policy["Arn"]
    assert arn == f"arn:aws:iam::{server.account_id}:policy/{name}" and policy["DefaultVersionId"] == "v1"
    for _ in range(4):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=document("s3:PutObject"))
    with pytest.raises(ClientError) as too_many:
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=document())
    assert code(too_many) == "LimitExceeded"
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v5")
    version = iam.get_policy_version(PolicyArn=arn, VersionId="v5")["PolicyVersion"]
    assert version["Document"] == json.loads(document("s3:PutObject")) and version["IsDefaultVersion"]
    with pytest.raises(ClientError) as default:
        iam.delete_policy_version(PolicyArn=arn, VersionId="v5")
    assert code(default) == "DeleteConflict"
    with pytest.raises(ClientError) as versions_left:
        iam.delete_policy(PolicyArn=arn)
    assert code(versions_left) == "DeleteConflict"
    for version_id in ("v1", "v2", "v3", "v4"):
        iam.delete_policy_version(PolicyArn=arn, VersionId=version_id)
    iam.delete_policy(PolicyArn=arn)
    with pytest.raises(ClientError) as gone:
        iam.get_policy(PolicyArn=arn)
    assert code(gone) == "NoSuchEntity"


def test_malformed_and_oversized_policies(iam: Any) -> None:
    with pytest.raises(ClientError) as malformed:
        iam.create_policy(PolicyName=unique("bad"), PolicyDocument='{"Version":"2012-10-17","Statement":[]]')
    assert code(malformed) == "MalformedPolicyDocument"
    big = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{'x' * 6200}"}]}
    )
    with pytest.raises(ClientError) as oversized:
        iam.create_policy(PolicyName=unique("big"), PolicyDocument=big)
    assert code(oversized) == "LimitExceeded"


def test_aws_managed_policies(iam: Any) -> None:
    policy = iam.get_policy(PolicyArn=ADMIN)["Policy"]
    assert policy["PolicyId"] == "ANPAIWMBCKSKIEE64ZLYK"
    version = iam.get_policy_version(PolicyArn=ADMIN, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    assert version["Document"]["Statement"][0]["Action"] == "*"
    names = [p["PolicyName"] for page in iam.get_paginator("list_policies").paginate(Scope="AWS") for p in page["Policies"]]
    assert {"AdministratorAccess", "IAMFullAccess", "IAMReadOnlyAccess"} <= set(names)


def test_attach_detach_and_entities_for_policy(iam: Any) -> None:
    user, group, role = unique("au"), unique("ag"), unique("ar")
    iam.create_user(UserName=user)
    iam.create_group(GroupName=group)
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
    iam.attach_user_policy(UserName=user, PolicyArn=READ_ONLY_IAM)
    iam.attach_group_policy(GroupName=group, PolicyArn=READ_ONLY_IAM)
    iam.attach_role_policy(RoleName=role, PolicyArn=READ_ONLY_IAM)
    entities = iam.list_entities_for_policy(PolicyArn=READ_ONLY_IAM)
    assert user in [u["UserName"] for u in entities["PolicyUsers"]]
    assert group in [g["GroupName"] for g in entities["PolicyGroups"]]
    assert role in [r["RoleName"] for r in entities["PolicyRoles"]]
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == [
        {"PolicyName": "IAMReadOnlyAccess", "PolicyArn": READ_ONLY_IAM}
    ]
    with pytest.raises(ClientError) as conflict:
        iam.delete_role(RoleName=role)
    assert code(conflict) == "DeleteConflict"
    for detach, kwargs in (
        (iam.detach_user_policy, {"UserName": user}),
        (iam.detach_group_policy, {"GroupName": group}),
        (iam.detach_role_policy, {"RoleName": role}),
    ):
        detach(PolicyArn=READ_ONLY_IAM, **kwargs)
    with pytest.raises(ClientError) as not_attached:
        iam.detach_user_policy(UserName=user, PolicyArn=READ_ONLY_IAM)
    assert code(not_attached) == "NoSuchEntity"


def test_inline_policies_round_trip_exact_text(iam: Any) -> None:
    user = unique("inline")
    iam.create_user(UserName=user)
    text = '{\n  "Version": "2012-10-17",\n  "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]\n}'
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=text)
    got = iam.get_user_policy(UserName=user, PolicyName="p")
    assert got["PolicyDocument"] == json.loads(text)
    assert iam.list_user_policies(UserName=user)["PolicyNames"] == ["p"]
    big = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{'x' * 2100}"}]}
    )
    with pytest.raises(ClientError) as too_big:
        iam.put_user_policy(UserName=user, PolicyName="big", PolicyDocument=big)
    assert code(too_big) == "LimitExceeded"
    iam.delete_user_policy(UserName=user, PolicyName="p")
    with pytest.raises(ClientError) as gone:
        iam.get_user_policy(UserName=user, PolicyName="p")
    assert code(gone) == "NoSuchEntity"


def test_permissions_boundary(iam: Any) -> None:
    user = unique("bounded")
    iam.create_user(UserName=user, PermissionsBoundary=READ_ONLY_IAM)
    assert iam.get_user(UserName=user)["User"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == READ_ONLY_IAM
    iam.delete_user_permissions_boundary(UserName=user)
    assert "PermissionsBoundary" not in iam.get_user(UserName=user)["User"]
    iam.put_user_permissions_boundary(UserName=user, PermissionsBoundary=ADMIN)
    assert iam.get_user(UserName=user)["User"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == ADMIN


def test_simulators(iam: Any, server: TesseraServer) -> None:
    custom = iam.simulate_custom_policy(
        PolicyInputList=[document("s3:*"), document("s3:DeleteBucket", "Deny")],
        ActionNames=["s3:GetObject", "s3:DeleteBucket", "ec2:RunInstances"],
    )["EvaluationResults"]
    assert [r["EvalDecision"] for r in custom] == ["allowed", "explicitDeny", "implicitDeny"]
    assert custom[1]["MatchedStatements"][0]["SourcePolicyId"] == "PolicyInputList.2"
    user = unique("sim")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="reads", PolicyDocument=document("s3:Get*"))
    arn = f"arn:aws:iam::{server.account_id}:user/{user}"
    principal = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["s3:GetObject", "s3:PutObject"])
    assert [r["EvalDecision"] for r in principal["EvaluationResults"]] == ["allowed", "implicitDeny"]
    assert principal["EvaluationResults"][0]["MatchedStatements"][0]["SourcePolicyType"] == "user"


def test_account_summary_and_authorization_details(iam: Any) -> None:
    user = unique("detail")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=document())
    summary = iam.get_account_summary()["SummaryMap"]
    assert summary["Users"] >= 1 and summary["UsersQuota"] == 5000 and summary["AccessKeysPerUserQuota"] == 2
    details = list(iam.get_paginator("get_account_authorization_details").paginate(Filter=["User"]))
    users = {u["UserName"]: u for page in details for u in page["UserDetailList"]}
    assert users[user]["UserPolicyList"] == [{"PolicyName": "p", "PolicyDocument": json.loads(document())}]


def test_short_arn_resources_with_a_trailing_star_are_accepted_and_match(iam: Any, server: TesseraServer) -> None:
    """``arn:aws:sns:us-east-1:*``: the trailing ``*`` spans the parts the ARN leaves out."""

    def statement(action: str, resource: str) -> dict[str, Any]:
        return {"Effect": "Allow", "Action": action, "Resource": resource}

    def doc(*statements: dict[str, Any]) -> str:
        return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})

    role = unique("shortarn")
    trust = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{server.account_id}:root"}, "Action": "sts:AssumeRole"}
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=doc(trust))
    short = doc(statement("sns:Publish", "arn:aws:sns:us-east-1:*"), statement("dynamodb:GetItem", "arn:aws:dynamodb:*"))
    iam.put_role_policy(RoleName=role, PolicyName="short", PolicyDocument=short)
    assert iam.get_role_policy(RoleName=role, PolicyName="short")["PolicyDocument"] == json.loads(short)
    role_arn = iam.get_role(RoleName=role)["Role"]["Arn"]
    results = iam.simulate_principal_policy(
        PolicySourceArn=role_arn,
        ActionNames=["sns:Publish"],
        ResourceArns=[f"arn:aws:sns:us-east-1:{server.account_id}:topic", f"arn:aws:sns:eu-west-1:{server.account_id}:topic"],
    )["EvaluationResults"]
    decisions = {r["EvalResourceName"]: r["EvalResourceDecision"] for r in results[0]["ResourceSpecificResults"]}
    assert decisions == {
        f"arn:aws:sns:us-east-1:{server.account_id}:topic": "allowed",
        f"arn:aws:sns:eu-west-1:{server.account_id}:topic": "implicitDeny",
    }
    table = f"arn:aws:dynamodb:us-west-2:{server.account_id}:table/T"
    results = iam.simulate_principal_policy(PolicySourceArn=role_arn, ActionNames=["dynamodb:GetItem"], ResourceArns=[table])
    assert results["EvaluationResults"][0]["EvalDecision"] == "allowed"

    # An IAM call allowed by ``arn:aws:iam::*`` and refused under ``arn:aws:sns:*``.
    allowed_user, refused_user = unique("shortok"), unique("shortno")
    allowed = server.make_user(allowed_user, doc(statement("iam:GetUser", "arn:aws:iam::*")))
    refused = server.make_user(refused_user, doc(statement("iam:GetUser", "arn:aws:sns:*")))
    assert server.client("iam", allowed).get_user(UserName=refused_user)["User"]["UserName"] == refused_user
    with pytest.raises(ClientError) as denied:
        server.client("iam", refused).get_user(UserName=allowed_user)
    assert code(denied) == "AccessDenied"

    # What AWS rejects stays rejected, and nothing is written.
    for bad in ("arn:aws:sns", "arn:aws:sns:us-east-1", "arn:*"):
        with pytest.raises(ClientError) as malformed:
            iam.put_role_policy(RoleName=role, PolicyName="bad", PolicyDocument=doc(statement("sns:Publish", bad)))
        assert code(malformed) == "MalformedPolicyDocument"
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["short"]

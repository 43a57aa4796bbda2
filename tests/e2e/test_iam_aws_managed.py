"""Every AWS managed policy, end to end on SQLite and PostgreSQL: boto3's paginator walks
ListPolicies Scope=AWS through the whole shipped set, a policy with a path is read and
its versions listed, one is attached to a role whose session it then decides for, and
AttachmentCount follows attach and detach."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from serverproc import Credentials, TesseraServer

from tessera.services.aws_managed import ManagedPolicies

_names = itertools.count()
VIEW_ONLY = "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"
LAMBDA_BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


def unique(prefix: str) -> str:
    return f"{prefix}{next(_names)}"


@pytest.fixture(scope="module")
def shipped() -> ManagedPolicies:
    return ManagedPolicies.load()


def test_paginator_walks_scope_aws_through_the_whole_data_file(iam: Any, shipped: ManagedPolicies) -> None:
    arns: list[str] = []
    pages = 0
    for page in iam.get_paginator("list_policies").paginate(Scope="AWS", PaginationConfig={"PageSize": 250}):
        pages += 1
        arns += [p["Arn"] for p in page["Policies"]]
    assert len(arns) == len(set(arns)) == len(shipped) == shipped.source["policies"]
    assert arns == [p["arn"] for p in shipped.all()]
    assert pages == -(-len(shipped) // 250)
    paths = iam.list_policies(Scope="AWS", PathPrefix="/job-function/", MaxItems=1000)["Policies"]
    assert VIEW_ONLY in {p["Arn"] for p in paths} and {p["Path"] for p in paths} == {"/job-function/"}


def test_get_policy_version_of_a_policy_with_a_path(iam: Any) -> None:
    policy = iam.get_policy(PolicyArn=VIEW_ONLY)["Policy"]
    assert (policy["Path"], policy["PolicyName"]) == ("/job-function/", "ViewOnlyAccess")
    version = iam.get_policy_version(PolicyArn=VIEW_ONLY, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    assert version["IsDefaultVersion"] and version["Document"]["Statement"]  # boto3 decodes the document
    listed = [v for page in iam.get_paginator("list_policy_versions").paginate(PolicyArn=VIEW_ONLY) for v in page["Versions"]]
    assert listed[0]["VersionId"] == policy["DefaultVersionId"] and listed[-1]["VersionId"] == "v1"
    older = iam.get_policy_version(PolicyArn=VIEW_ONLY, VersionId="v1")["PolicyVersion"]
    assert not older["IsDefaultVersion"] and older["Document"] != version["Document"]
    role_policy = iam.get_policy(PolicyArn=LAMBDA_BASIC)["Policy"]
    assert role_policy["Path"] == "/service-role/"
    with pytest.raises(ClientError) as no_path:
        iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/AWSLambdaBasicExecutionRole")
    assert no_path.value.response["Error"]["Code"] == "NoSuchEntity"


def test_view_only_access_decides_for_an_assumed_role(iam: Any, server: TesseraServer) -> None:
    role = unique("viewer")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{server.account_id}:root"}, "Action": "sts:AssumeRole"}],
    }
    role_arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    caller = server.make_user(
        unique("assumer"),
        json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}]}),
    )
    sts = server.client("sts", caller)

    def session(name: str) -> Any:
        creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=name)["Credentials"]
        return server.client("iam", Credentials.from_response(creds))

    before = session("before")
    with pytest.raises(ClientError) as nothing_yet:
        before.list_users()
    assert nothing_yet.value.response["Error"]["Code"] == "AccessDenied"

    iam.attach_role_policy(RoleName=role, PolicyArn=VIEW_ONLY)
    viewer = session("after")
    assert "Users" in viewer.list_users()  # iam:List* is in ViewOnlyAccess
    assert "Roles" in viewer.list_roles()
    name = unique("never")
    with pytest.raises(ClientError) as write:
        viewer.create_user(UserName=name)
    assert write.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError) as absent:
        iam.get_user(UserName=name)
    assert absent.value.response["Error"]["Code"] == "NoSuchEntity"

    iam.detach_role_policy(RoleName=role, PolicyArn=VIEW_ONLY)
    with pytest.raises(ClientError) as detached:
        viewer.list_users()
    assert detached.value.response["Error"]["Code"] == "AccessDenied"


def test_attachment_count_follows_attach_and_detach(iam: Any) -> None:
    def counts() -> tuple[int, int]:
        policy = iam.get_policy(PolicyArn=LAMBDA_BASIC)["Policy"]
        return policy["AttachmentCount"], policy["PermissionsBoundaryUsageCount"]

    start = counts()
    role, user = unique("fn"), unique("dev")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
    iam.create_user(UserName=user)
    iam.attach_role_policy(RoleName=role, PolicyArn=LAMBDA_BASIC)
    assert counts() == (start[0] + 1, start[1])
    iam.attach_user_policy(UserName=user, PolicyArn=LAMBDA_BASIC)
    iam.put_user_permissions_boundary(UserName=user, PermissionsBoundary=LAMBDA_BASIC)
    assert counts() == (start[0] + 2, start[1] + 1)
    attached = [p["Arn"] for p in iam.list_policies(Scope="AWS", OnlyAttached=True)["Policies"]]
    assert LAMBDA_BASIC in attached
    entities = iam.list_entities_for_policy(PolicyArn=LAMBDA_BASIC)
    assert role in {r["RoleName"] for r in entities["PolicyRoles"]} and user in {u["UserName"] for u in entities["PolicyUsers"]}
    iam.detach_role_policy(RoleName=role, PolicyArn=LAMBDA_BASIC)
    iam.detach_user_policy(UserName=user, PolicyArn=LAMBDA_BASIC)
    iam.delete_user_permissions_boundary(UserName=user)
    assert counts() == start

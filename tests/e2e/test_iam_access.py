"""Who may call IAM, end to end: users are denied until a policy allows them, an explicit
deny beats any allow, and conditions on IAM's keys apply."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from policies import allow, policy, unique
from serverproc import TesseraServer


def denied(call: Any) -> str:
    with pytest.raises(ClientError) as error:
        call()
    assert error.value.response["Error"]["Code"] == "AccessDenied"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    return str(error.value.response["Error"]["Message"])


def test_user_is_denied_until_a_policy_allows(iam: Any, server: TesseraServer) -> None:
    name = unique("actor")
    creds = server.make_user(name)
    client = server.client("iam", creds)
    target = unique("target")
    message = denied(lambda: client.create_user(UserName=target))
    assert f"user/{name} is not authorized to perform: iam:CreateUser on resource:" in message
    assert f"user/{target}" in message
    iam.put_user_policy(UserName=name, PolicyName="allow", PolicyDocument=policy(allow("iam:CreateUser")))
    client.create_user(UserName=target)
    iam.put_user_policy(
        UserName=name, PolicyName="deny", PolicyDocument=policy({"Effect": "Deny", "Action": "iam:CreateUser", "Resource": "*"})
    )
    assert "explicit deny" in denied(lambda: client.create_user(UserName=unique("target")))


def test_denied_before_revealing_whether_an_entity_exists(server: TesseraServer) -> None:
    client = server.client("iam", server.make_user(unique("curious")))
    denied(lambda: client.get_user(UserName=unique("does-not-exist")))
    denied(lambda: client.get_role(RoleName=unique("does-not-exist")))


def test_group_policies_grant_to_members(iam: Any, server: TesseraServer) -> None:
    name, group = unique("member"), unique("readers")
    client = server.client("iam", server.make_user(name))
    denied(lambda: client.list_roles())
    iam.create_group(GroupName=group)
    iam.attach_group_policy(GroupName=group, PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    iam.add_user_to_group(GroupName=group, UserName=name)
    assert "Roles" in client.list_roles()


def test_tag_conditions_scope_what_a_user_may_change(iam: Any, server: TesseraServer) -> None:
    blue, red = unique("blue"), unique("red")
    iam.create_user(UserName=blue, Tags=[{"Key": "team", "Value": "blue"}])
    iam.create_user(UserName=red, Tags=[{"Key": "team", "Value": "red"}])
    condition = {"StringEquals": {"aws:ResourceTag/team": "blue"}}
    client = server.client("iam", server.make_user(unique("lead"), policy(allow("iam:TagUser", Condition=condition))))
    client.tag_user(UserName=blue, Tags=[{"Key": "x", "Value": "1"}])
    denied(lambda: client.tag_user(UserName=red, Tags=[{"Key": "x", "Value": "1"}]))


def test_permissions_boundary_condition_forces_delegated_admins_to_set_it(iam: Any, server: TesseraServer) -> None:
    boundary = iam.create_policy(PolicyName=unique("boundary"), PolicyDocument=policy(allow("s3:*")))["Policy"]["Arn"]
    condition = {"StringEquals": {"iam:PermissionsBoundary": boundary}}
    client = server.client("iam", server.make_user(unique("delegate"), policy(allow("iam:CreateUser", Condition=condition))))
    client.create_user(UserName=unique("bounded"), PermissionsBoundary=boundary)
    denied(lambda: client.create_user(UserName=unique("free")))


def test_boundary_caps_a_users_own_permissions(iam: Any, server: TesseraServer) -> None:
    name = unique("capped")
    creds = server.make_user(name, policy(allow("iam:*")))
    iam.put_user_permissions_boundary(UserName=name, PermissionsBoundary="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    client = server.client("iam", creds)
    client.list_users()
    denied(lambda: client.create_user(UserName=unique("blocked")))

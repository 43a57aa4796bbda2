"""Groups and roles, through the registered handlers over a real store."""

from __future__ import annotations

import json
import re

import pytest
from iamhandlers import ACCOUNT, Call

from tessera.errors import (
    DeleteConflictException,
    EntityAlreadyExistsException,
    LimitExceededException,
    MalformedPolicyDocumentException,
    NoSuchEntityException,
)
from tessera.services.iam import quotas

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}],
    }
)
ALLOW = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}'


def test_group_membership_round_trip(call: Call) -> None:
    group = call("CreateGroup", GroupName="Devs", Path="/eng/")["Group"]
    assert group["GroupId"].startswith("AGPA") and group["Arn"] == f"arn:aws:iam::{ACCOUNT}:group/eng/Devs"
    call("CreateUser", UserName="a")
    call("AddUserToGroup", GroupName="devs", UserName="a")
    call("AddUserToGroup", GroupName="devs", UserName="a")  # idempotent
    got = call("GetGroup", GroupName="devs")
    assert [u["UserName"] for u in got["Users"]] == ["a"] and got["Group"]["GroupName"] == "Devs"
    call("RemoveUserFromGroup", GroupName="devs", UserName="a")
    assert call("GetGroup", GroupName="devs")["Users"] == []
    with pytest.raises(NoSuchEntityException):
        call("RemoveUserFromGroup", GroupName="devs", UserName="a")


def test_group_rename_follows_members(call: Call) -> None:
    call("CreateGroup", GroupName="g")
    call("CreateUser", UserName="a")
    call("AddUserToGroup", GroupName="g", UserName="a")
    call("UpdateGroup", GroupName="g", NewGroupName="h")
    assert [g["GroupName"] for g in call("ListGroupsForUser", UserName="a")["Groups"]] == ["h"]
    assert [u["UserName"] for u in call("GetGroup", GroupName="h")["Users"]] == ["a"]


def test_delete_group_refuses_members_and_policies(call: Call) -> None:
    call("CreateGroup", GroupName="g")
    call("CreateUser", UserName="a")
    call("AddUserToGroup", GroupName="g", UserName="a")
    with pytest.raises(DeleteConflictException, match="remove users"):
        call("DeleteGroup", GroupName="g")
    call("RemoveUserFromGroup", GroupName="g", UserName="a")
    call("PutGroupPolicy", GroupName="g", PolicyName="p", PolicyDocument=ALLOW)
    with pytest.raises(DeleteConflictException, match="delete policies"):
        call("DeleteGroup", GroupName="g")
    call("DeleteGroupPolicy", GroupName="g", PolicyName="p")
    call("DeleteGroup", GroupName="g")
    assert call("ListGroups")["Groups"] == []


def test_groups_per_user_quota(call: Call, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quotas, "GROUPS_PER_USER", 1)
    call("CreateUser", UserName="a")
    for name in ("g1", "g2"):
        call("CreateGroup", GroupName=name)
    call("AddUserToGroup", GroupName="g1", UserName="a")
    with pytest.raises(LimitExceededException, match="GroupsPerUser"):
        call("AddUserToGroup", GroupName="g2", UserName="a")


def test_duplicate_group_is_refused(call: Call) -> None:
    call("CreateGroup", GroupName="g")
    with pytest.raises(EntityAlreadyExistsException):
        call("CreateGroup", GroupName="G")


# -- roles --------------------------------------------------------------------------------
def test_create_role_returns_trust_policy_as_stored(call: Call) -> None:
    role = call(
        "CreateRole",
        RoleName="r",
        Path="/svc/",
        AssumeRolePolicyDocument=TRUST,
        Description="d",
        MaxSessionDuration=7200,
        Tags=[{"Key": "k", "Value": "v"}],
    )["Role"]
    assert role["RoleId"].startswith("AROA") and role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/svc/r"
    assert role["AssumeRolePolicyDocument"] == TRUST and role["MaxSessionDuration"] == 7200
    got = call("GetRole", RoleName="R")["Role"]
    assert got["Description"] == "d" and got["Tags"] == [{"Key": "k", "Value": "v"}] and got["RoleLastUsed"] == {}
    listed = call("ListRoles")["Roles"][0]
    assert "Tags" not in listed and "RoleLastUsed" not in listed and listed["MaxSessionDuration"] == 7200


def test_role_defaults(call: Call) -> None:
    role = call("CreateRole", RoleName="r", AssumeRolePolicyDocument=TRUST)["Role"]
    assert role["Path"] == "/" and role["MaxSessionDuration"] == 3600 and "Description" not in role


@pytest.mark.parametrize(
    "document",
    [
        "not json",
        json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}),
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole", "Resource": "*"}],
            }
        ),
    ],
    ids=["not-json", "no-principal", "has-resource"],
)
def test_malformed_trust_policy_is_refused(call: Call, document: str) -> None:
    with pytest.raises(MalformedPolicyDocumentException):
        call("CreateRole", RoleName="r", AssumeRolePolicyDocument=document)


def test_trust_policy_naming_a_missing_user_of_a_hosted_account_is_refused(call: Call) -> None:
    arn = f"arn:aws:iam::{ACCOUNT}:user/nobody"
    document = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": arn}, "Action": "sts:AssumeRole"}]}
    )
    with pytest.raises(MalformedPolicyDocumentException, match=f'Invalid principal in policy: "AWS":"{arn}"'):
        call("CreateRole", RoleName="r", AssumeRolePolicyDocument=document)
    call("CreateUser", UserName="nobody")
    call("CreateRole", RoleName="r", AssumeRolePolicyDocument=document)


def test_trust_policy_size_limit(call: Call) -> None:
    principals = [f"arn:aws:iam::{n:012d}:root" for n in range(100000000000, 100000000000 + 60)]
    document = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": principals}, "Action": "sts:AssumeRole"}]}
    )
    with pytest.raises(LimitExceededException, match="ACLSizePerRole: 2048"):
        call("CreateRole", RoleName="r", AssumeRolePolicyDocument=document)


def test_update_role_and_description_and_trust(call: Call) -> None:
    call("CreateRole", RoleName="r", AssumeRolePolicyDocument=TRUST)
    call("UpdateRole", RoleName="r", MaxSessionDuration=43200)
    role = call("UpdateRoleDescription", RoleName="r", Description="new")["Role"]
    assert role["Description"] == "new" and role["MaxSessionDuration"] == 43200
    other = TRUST.replace("root", "user/x").replace(ACCOUNT, "999999999999")
    call("UpdateAssumeRolePolicy", RoleName="r", PolicyDocument=other)
    assert call("GetRole", RoleName="r")["Role"]["AssumeRolePolicyDocument"] == other


def test_delete_role_refuses_policies(call: Call) -> None:
    call("CreateRole", RoleName="r", AssumeRolePolicyDocument=TRUST)
    call("AttachRolePolicy", RoleName="r", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    with pytest.raises(DeleteConflictException, match="detach"):
        call("DeleteRole", RoleName="r")
    call("DetachRolePolicy", RoleName="r", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    call("DeleteRole", RoleName="r")
    with pytest.raises(NoSuchEntityException, match=re.escape("The role with name r cannot be found.")):
        call("GetRole", RoleName="r")


def test_role_tags(call: Call) -> None:
    call("CreateRole", RoleName="r", AssumeRolePolicyDocument=TRUST)
    call("TagRole", RoleName="r", Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    call("UntagRole", RoleName="r", TagKeys=["a"])
    assert call("ListRoleTags", RoleName="r")["Tags"] == [{"Key": "b", "Value": "2"}]

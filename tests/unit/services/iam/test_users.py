"""Users and access keys, through the registered handlers over a real store."""

from __future__ import annotations

import re

import pytest
from iamhandlers import ACCOUNT, NOW, Call, user_arn

from tessera.auth.caller import Caller
from tessera.errors import (
    DeleteConflictException,
    EntityAlreadyExistsException,
    LimitExceededException,
    NoSuchEntityException,
    ValidationError,
)
from tessera.services.iam import quotas
from tessera.services.runtime import Runtime


def test_create_user_returns_aws_shape(call: Call) -> None:
    user = call("CreateUser", UserName="bob", Path="/eng/", Tags=[{"Key": "team", "Value": "blue"}])["User"]
    assert user["Arn"] == user_arn("bob", "/eng/")
    assert user["UserId"].startswith("AIDA") and len(user["UserId"]) == 21
    assert user["CreateDate"] == NOW
    assert user["Tags"] == [{"Key": "team", "Value": "blue"}]


def test_user_names_are_unique_case_insensitively_and_keep_their_case(call: Call) -> None:
    call("CreateUser", UserName="Bob")
    with pytest.raises(EntityAlreadyExistsException, match=re.escape("User with name bob already exists.")):
        call("CreateUser", UserName="bob")
    assert call("GetUser", UserName="BOB")["User"]["UserName"] == "Bob"


def test_get_missing_user_is_no_such_entity(call: Call) -> None:
    with pytest.raises(NoSuchEntityException, match=re.escape("The user with name nobody cannot be found.")):
        call("GetUser", UserName="nobody")


def test_get_user_without_name_describes_the_caller(call: Call, user_with_policy) -> None:
    alice = user_with_policy("alice", '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}]}')
    assert call("GetUser", caller=alice)["User"]["UserName"] == "alice"
    root = call("GetUser")["User"]
    assert root["Arn"] == f"arn:aws:iam::{ACCOUNT}:root" and root["UserId"] == ACCOUNT


def test_list_users_filters_by_path_prefix_and_paginates(call: Call) -> None:
    for name, path in [("a", "/eng/"), ("b", "/eng/"), ("c", "/ops/"), ("d", "/eng/x/")]:
        call("CreateUser", UserName=name, Path=path)
    first = call("ListUsers", PathPrefix="/eng/", MaxItems=2)
    assert [u["UserName"] for u in first["Users"]] == ["a", "b"] and first["IsTruncated"]
    second = call("ListUsers", PathPrefix="/eng/", MaxItems=2, Marker=first["Marker"])
    assert [u["UserName"] for u in second["Users"]] == ["d"] and not second["IsTruncated"]
    assert "Tags" not in first["Users"][0]


def test_rename_keeps_id_and_moves_groups_and_keys(call: Call, runtime: Runtime) -> None:
    user_id = call("CreateUser", UserName="old")["User"]["UserId"]
    call("CreateGroup", GroupName="devs")
    call("AddUserToGroup", GroupName="devs", UserName="old")
    key = call("CreateAccessKey", UserName="old")["AccessKey"]["AccessKeyId"]
    call("UpdateUser", UserName="old", NewUserName="new", NewPath="/moved/")
    user = call("GetUser", UserName="new")["User"]
    assert user["UserId"] == user_id and user["Arn"] == user_arn("new", "/moved/")
    assert [k["AccessKeyId"] for k in call("ListAccessKeys", UserName="new")["AccessKeyMetadata"]] == [key]
    assert [g["GroupName"] for g in call("ListGroupsForUser", UserName="new")["Groups"]] == ["devs"]
    with pytest.raises(NoSuchEntityException):
        call("GetUser", UserName="old")


def test_rename_that_changes_only_case_updates_keys_and_devices(call: Call) -> None:
    call("CreateUser", UserName="Carol")
    key = call("CreateAccessKey", UserName="Carol")["AccessKey"]["AccessKeyId"]
    call("UpdateUser", UserName="Carol", NewUserName="carol")
    assert [k["UserName"] for k in call("ListAccessKeys", UserName="carol")["AccessKeyMetadata"]] == ["carol"]
    assert call("GetAccessKeyLastUsed", AccessKeyId=key)["UserName"] == "carol"


def test_rename_onto_existing_user_is_refused(call: Call) -> None:
    call("CreateUser", UserName="a")
    call("CreateUser", UserName="b")
    with pytest.raises(EntityAlreadyExistsException):
        call("UpdateUser", UserName="a", NewUserName="B")


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda call: call("CreateAccessKey", UserName="u"), "access keys"),
        (lambda call: call("PutUserPolicy", UserName="u", PolicyName="p", PolicyDocument=_ALLOW), "delete policies"),
        (lambda call: call("AttachUserPolicy", UserName="u", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess"), "detach"),
        (lambda call: (call("CreateGroup", GroupName="g"), call("AddUserToGroup", GroupName="g", UserName="u")), "group"),
    ],
    ids=["access-key", "inline-policy", "attached-policy", "group-membership"],
)
def test_delete_user_refuses_while_it_owns_something(call: Call, setup, message: str) -> None:
    call("CreateUser", UserName="u")
    setup(call)
    with pytest.raises(DeleteConflictException, match=message):
        call("DeleteUser", UserName="u")


def test_delete_user(call: Call) -> None:
    call("CreateUser", UserName="u")
    call("DeleteUser", UserName="u")
    with pytest.raises(NoSuchEntityException):
        call("DeleteUser", UserName="u")


def test_users_per_account_quota(call: Call, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quotas, "USERS_PER_ACCOUNT", 2)
    call("CreateUser", UserName="a")
    call("CreateUser", UserName="b")
    with pytest.raises(LimitExceededException, match="UsersPerAccount: 2"):
        call("CreateUser", UserName="c")


def test_create_user_with_missing_boundary_is_no_such_entity(call: Call) -> None:
    with pytest.raises(NoSuchEntityException):
        call("CreateUser", UserName="u", PermissionsBoundary=f"arn:aws:iam::{ACCOUNT}:policy/none")
    with pytest.raises(NoSuchEntityException):
        call("GetUser", UserName="u")


def test_user_tags_merge_untag_and_list(call: Call) -> None:
    call("CreateUser", UserName="u", Tags=[{"Key": "a", "Value": "1"}])
    call("TagUser", UserName="u", Tags=[{"Key": "A", "Value": "2"}, {"Key": "b", "Value": "3"}])
    call("UntagUser", UserName="u", TagKeys=["b"])
    assert call("ListUserTags", UserName="u")["Tags"] == [{"Key": "A", "Value": "2"}]


# -- access keys ------------------------------------------------------------------------
def test_access_key_secret_is_returned_once_and_stored_sealed(call: Call, runtime: Runtime) -> None:
    call("CreateUser", UserName="u")
    key = call("CreateAccessKey", UserName="u")["AccessKey"]
    assert key["AccessKeyId"].startswith("AKIA") and key["Status"] == "Active"
    stored = runtime.view.account(ACCOUNT).access_keys[key["AccessKeyId"]]  # type: ignore[union-attr]
    assert key["SecretAccessKey"] not in stored["secret_sealed"]
    opened = runtime.secret_box.open(stored["secret_sealed"], context=f"access-key:{key['AccessKeyId']}")
    assert opened == key["SecretAccessKey"]
    listed = call("ListAccessKeys", UserName="u")["AccessKeyMetadata"]
    assert listed == [{"UserName": "u", "AccessKeyId": key["AccessKeyId"], "Status": "Active", "CreateDate": NOW}]


def test_third_access_key_is_refused_even_when_one_is_inactive(call: Call) -> None:
    call("CreateUser", UserName="u")
    first = call("CreateAccessKey", UserName="u")["AccessKey"]["AccessKeyId"]
    call("CreateAccessKey", UserName="u")
    call("UpdateAccessKey", UserName="u", AccessKeyId=first, Status="Inactive")
    with pytest.raises(LimitExceededException, match="AccessKeysPerUser: 2"):
        call("CreateAccessKey", UserName="u")
    call("DeleteAccessKey", UserName="u", AccessKeyId=first)
    call("CreateAccessKey", UserName="u")


def test_key_of_another_user_is_not_found(call: Call) -> None:
    call("CreateUser", UserName="a")
    call("CreateUser", UserName="b")
    key = call("CreateAccessKey", UserName="a")["AccessKey"]["AccessKeyId"]
    with pytest.raises(NoSuchEntityException):
        call("DeleteAccessKey", UserName="b", AccessKeyId=key)


def test_root_manages_its_own_keys_without_user_name(call: Call) -> None:
    keys = call("ListAccessKeys")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == ["AKIAROOTUNITTEST0001"] and "UserName" not in keys[0]
    new = call("CreateAccessKey")["AccessKey"]
    assert "UserName" not in new
    with pytest.raises(LimitExceededException):
        call("CreateAccessKey")
    call("DeleteAccessKey", AccessKeyId=new["AccessKeyId"])


def test_caller_without_user_name_uses_own_keys(call: Call, user_with_policy) -> None:
    alice = user_with_policy("alice", _ALLOW)
    key = call("CreateAccessKey", caller=alice)["AccessKey"]
    assert key["UserName"] == "alice"


def test_access_key_last_used_reports_never_used(call: Call) -> None:
    call("CreateUser", UserName="u")
    key = call("CreateAccessKey", UserName="u")["AccessKey"]["AccessKeyId"]
    out = call("GetAccessKeyLastUsed", AccessKeyId=key)
    assert out == {"UserName": "u", "AccessKeyLastUsed": {"ServiceName": "N/A", "Region": "N/A"}}
    with pytest.raises(NoSuchEntityException):
        call("GetAccessKeyLastUsed", AccessKeyId="AKIADOESNOTEXIST0000")


def test_access_key_operations_on_missing_user(call: Call) -> None:
    with pytest.raises(NoSuchEntityException):
        call("CreateAccessKey", UserName="ghost")
    with pytest.raises(NoSuchEntityException):
        call("ListAccessKeys", UserName="ghost")


def test_session_callers_must_name_the_user(call: Call) -> None:
    session = Caller("assumed-role", ACCOUNT, f"arn:aws:sts::{ACCOUNT}:assumed-role/r/s", "AROAX:s", "r", "ASIAX")
    with pytest.raises(ValidationError):
        call("ListAccessKeys", caller=session)


_ALLOW = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"*"}]}'

"""Instance profiles and the MFA device reads and tags, through the registered handlers
over a real store."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from iamhandlers import ACCOUNT, Call

from tessera.auth.caller import Caller
from tessera.errors import (
    AccessDenied,
    DeleteConflictException,
    EntityAlreadyExistsException,
    InvalidInputException,
    LimitExceededException,
    NoSuchEntityException,
)
from tessera.services import records as R
from tessera.services.iam import quotas
from tessera.services.runtime import Runtime

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
)
PROFILE_ARN = f"arn:aws:iam::{ACCOUNT}:instance-profile"
MakeUser = Callable[[str, str | None], Caller]


def allow(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **s} for s in statements]})


def test_create_get_list_delete(call: Call) -> None:
    made = call("CreateInstanceProfile", InstanceProfileName="Web", Path="/app/", Tags=[{"Key": "team", "Value": "a"}])["InstanceProfile"]
    assert made["InstanceProfileId"].startswith("AIPA") and made["Arn"] == f"{PROFILE_ARN}/app/Web"
    assert made["Roles"] == [] and made["Tags"] == [{"Key": "team", "Value": "a"}] and made["Path"] == "/app/"
    got = call("GetInstanceProfile", InstanceProfileName="web")["InstanceProfile"]
    assert got["InstanceProfileName"] == "Web" and got["InstanceProfileId"] == made["InstanceProfileId"]
    with pytest.raises(EntityAlreadyExistsException, match="Instance Profile WEB already exists"):
        call("CreateInstanceProfile", InstanceProfileName="WEB")
    call("CreateInstanceProfile", InstanceProfileName="db")
    assert [p["InstanceProfileName"] for p in call("ListInstanceProfiles")["InstanceProfiles"]] == ["db", "Web"]
    listed = call("ListInstanceProfiles", PathPrefix="/app")["InstanceProfiles"]
    assert [p["InstanceProfileName"] for p in listed] == ["Web"] and "Tags" not in listed[0]  # listings omit tags
    first = call("ListInstanceProfiles", MaxItems=1)
    assert first["IsTruncated"] and [p["InstanceProfileName"] for p in first["InstanceProfiles"]] == ["db"]
    rest = call("ListInstanceProfiles", Marker=first["Marker"])
    assert not rest["IsTruncated"] and [p["InstanceProfileName"] for p in rest["InstanceProfiles"]] == ["Web"]
    call("DeleteInstanceProfile", InstanceProfileName="WEB")
    with pytest.raises(NoSuchEntityException, match="Instance Profile Web cannot be found"):
        call("GetInstanceProfile", InstanceProfileName="Web")
    with pytest.raises(NoSuchEntityException):
        call("DeleteInstanceProfile", InstanceProfileName="Web")


def test_one_role_per_profile_and_delete_conflicts(call: Call) -> None:
    role = call("CreateRole", RoleName="App", AssumeRolePolicyDocument=TRUST)["Role"]
    call("CreateRole", RoleName="Other", AssumeRolePolicyDocument=TRUST)
    call("CreateInstanceProfile", InstanceProfileName="p1")
    call("CreateInstanceProfile", InstanceProfileName="p2")
    call("AddRoleToInstanceProfile", InstanceProfileName="p1", RoleName="app")
    call("AddRoleToInstanceProfile", InstanceProfileName="p2", RoleName="App")
    roles = call("GetInstanceProfile", InstanceProfileName="p1")["InstanceProfile"]["Roles"]
    assert [(r["RoleName"], r["RoleId"], r["Arn"]) for r in roles] == [("App", role["RoleId"], role["Arn"])]
    assert roles[0]["AssumeRolePolicyDocument"] == TRUST
    for name in ("Other", "App"):
        with pytest.raises(LimitExceededException, match="InstanceSessionsPerInstanceProfile: 1"):
            call("AddRoleToInstanceProfile", InstanceProfileName="p1", RoleName=name)
    listed = call("ListInstanceProfilesForRole", RoleName="APP")["InstanceProfiles"]
    assert [p["InstanceProfileName"] for p in listed] == ["p1", "p2"]
    assert call("ListInstanceProfilesForRole", RoleName="Other")["InstanceProfiles"] == []
    with pytest.raises(DeleteConflictException, match="must remove roles from instance profile first"):
        call("DeleteInstanceProfile", InstanceProfileName="p1")
    with pytest.raises(DeleteConflictException, match="must remove roles from instance profile first"):
        call("DeleteRole", RoleName="App")
    with pytest.raises(NoSuchEntityException):
        call("RemoveRoleFromInstanceProfile", InstanceProfileName="p1", RoleName="Other")
    with pytest.raises(NoSuchEntityException):
        call("AddRoleToInstanceProfile", InstanceProfileName="p1", RoleName="ghost")
    with pytest.raises(NoSuchEntityException):
        call("AddRoleToInstanceProfile", InstanceProfileName="ghost", RoleName="App")
    call("RemoveRoleFromInstanceProfile", InstanceProfileName="p1", RoleName="app")
    call("RemoveRoleFromInstanceProfile", InstanceProfileName="p2", RoleName="app")
    call("DeleteRole", RoleName="App")
    with pytest.raises(NoSuchEntityException):
        call("ListInstanceProfilesForRole", RoleName="App")
    call("DeleteInstanceProfile", InstanceProfileName="p1")


def test_recreated_role_is_not_the_profiles(runtime: Runtime, call: Call) -> None:
    """Profiles hold roles by id: a profile whose role was deleted behind its back (state
    not written through DeleteRole) does not take in a new role of the same name."""
    old = call("CreateRole", RoleName="App", AssumeRolePolicyDocument=TRUST)["Role"]
    call("CreateInstanceProfile", InstanceProfileName="p")
    call("AddRoleToInstanceProfile", InstanceProfileName="p", RoleName="App")
    with runtime.store.write(ACCOUNT) as tx:
        tx.delete(ACCOUNT, R.ROLE, "app")
    runtime.view.refresh([ACCOUNT])
    new = call("CreateRole", RoleName="App", AssumeRolePolicyDocument=TRUST)["Role"]
    assert new["RoleId"] != old["RoleId"]
    assert call("GetInstanceProfile", InstanceProfileName="p")["InstanceProfile"]["Roles"] == []
    assert call("ListInstanceProfilesForRole", RoleName="App")["InstanceProfiles"] == []
    with pytest.raises(NoSuchEntityException):
        call("RemoveRoleFromInstanceProfile", InstanceProfileName="p", RoleName="App")
    call("DeleteRole", RoleName="App")  # not held, so no conflict
    call("CreateRole", RoleName="App", AssumeRolePolicyDocument=TRUST)
    call("AddRoleToInstanceProfile", InstanceProfileName="p", RoleName="App")  # the stale id does not count
    stored = runtime.view.account(ACCOUNT).instance_profiles["p"]  # type: ignore[union-attr]
    assert stored["roles"] == ["App"] and len(stored["role_ids"]) == 1


def test_profile_tags(call: Call) -> None:
    call("CreateInstanceProfile", InstanceProfileName="p")
    call("TagInstanceProfile", InstanceProfileName="P", Tags=[{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "1"}])
    call("TagInstanceProfile", InstanceProfileName="p", Tags=[{"Key": "B", "Value": "3"}])
    assert call("ListInstanceProfileTags", InstanceProfileName="p")["Tags"] == [{"Key": "a", "Value": "1"}, {"Key": "B", "Value": "3"}]
    call("UntagInstanceProfile", InstanceProfileName="p", TagKeys=["a", "missing"])
    assert call("GetInstanceProfile", InstanceProfileName="p")["InstanceProfile"]["Tags"] == [{"Key": "B", "Value": "3"}]
    with pytest.raises(InvalidInputException):
        call("TagInstanceProfile", InstanceProfileName="p", Tags=[{"Key": "aws:x", "Value": "1"}])
    many = [{"Key": f"k{i}", "Value": ""} for i in range(quotas.TAGS_PER_ENTITY)]
    with pytest.raises(LimitExceededException):
        call("TagInstanceProfile", InstanceProfileName="p", Tags=many)
    with pytest.raises(NoSuchEntityException):
        call("ListInstanceProfileTags", InstanceProfileName="ghost")


def test_profile_quota(call: Call, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quotas, "INSTANCE_PROFILES_PER_ACCOUNT", 1)
    call("CreateInstanceProfile", InstanceProfileName="a")
    with pytest.raises(LimitExceededException, match="InstanceProfilesPerAccount: 1"):
        call("CreateInstanceProfile", InstanceProfileName="b")


def test_account_views_count_and_list_profiles(call: Call) -> None:
    call("CreateRole", RoleName="App", AssumeRolePolicyDocument=TRUST)
    call("CreateInstanceProfile", InstanceProfileName="p")
    call("CreateInstanceProfile", InstanceProfileName="q")
    call("AddRoleToInstanceProfile", InstanceProfileName="p", RoleName="App")
    summary = call("GetAccountSummary")["SummaryMap"]
    assert summary["InstanceProfiles"] == 2 and summary["InstanceProfilesQuota"] == quotas.INSTANCE_PROFILES_PER_ACCOUNT
    details = call("GetAccountAuthorizationDetails", Filter=["Role"])["RoleDetailList"]
    assert [[p["InstanceProfileName"] for p in d["InstanceProfileList"]] for d in details] == [["p"]]
    assert details[0]["InstanceProfileList"][0]["Roles"][0]["RoleName"] == "App"


def test_profile_operations_are_authorized(runtime: Runtime, call: Call, user_with_policy: MakeUser) -> None:
    call("CreateRole", RoleName="App", AssumeRolePolicyDocument=TRUST)
    call("CreateInstanceProfile", InstanceProfileName="p")
    no_pass = user_with_policy("builder", allow({"Action": ["iam:AddRoleToInstanceProfile", "iam:CreateInstanceProfile"], "Resource": "*"}))
    with pytest.raises(AccessDenied, match="iam:PassRole"):
        call("AddRoleToInstanceProfile", caller=no_pass, InstanceProfileName="p", RoleName="App")
    with pytest.raises(AccessDenied, match="iam:TagInstanceProfile"):
        call("CreateInstanceProfile", caller=no_pass, InstanceProfileName="t", Tags=[{"Key": "a", "Value": "1"}])
    assert set(runtime.view.account(ACCOUNT).instance_profiles) == {"p"}  # type: ignore[union-attr]
    passer = user_with_policy(
        "passer",
        allow(
            {"Action": "iam:AddRoleToInstanceProfile", "Resource": f"{PROFILE_ARN}/p"},
            {
                "Action": "iam:PassRole",
                "Resource": f"arn:aws:iam::{ACCOUNT}:role/App",
                "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
            },
        ),
    )
    call("AddRoleToInstanceProfile", caller=passer, InstanceProfileName="p", RoleName="App")
    with pytest.raises(AccessDenied, match="iam:RemoveRoleFromInstanceProfile"):
        call("RemoveRoleFromInstanceProfile", caller=passer, InstanceProfileName="p", RoleName="App")
    with pytest.raises(AccessDenied, match="iam:GetInstanceProfile"):
        call("GetInstanceProfile", caller=passer, InstanceProfileName="p")
    tagged_only = user_with_policy(
        "tagged", allow({"Action": "iam:*InstanceProfile*", "Resource": "*", "Condition": {"StringEquals": {"aws:ResourceTag/env": "dev"}}})
    )
    with pytest.raises(AccessDenied):
        call("DeleteInstanceProfile", caller=tagged_only, InstanceProfileName="p")
    call("TagInstanceProfile", InstanceProfileName="p", Tags=[{"Key": "env", "Value": "dev"}])
    call("RemoveRoleFromInstanceProfile", caller=tagged_only, InstanceProfileName="p", RoleName="App")
    call("DeleteInstanceProfile", caller=tagged_only, InstanceProfileName="p")


@pytest.mark.parametrize("spelling", ["web", "WEB", "wEb"])
def test_profiles_and_roles_are_authorized_on_their_stored_arns(call: Call, user_with_policy: MakeUser, spelling: str) -> None:
    """A Deny written against the stored names holds whatever case the request uses."""
    call("CreateRole", RoleName="Web", AssumeRolePolicyDocument=TRUST, Path="/svc/")
    call("CreateInstanceProfile", InstanceProfileName="Web", Path="/svc/")
    attacker = user_with_policy(
        "attacker",
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": ["iam:*InstanceProfile*", "iam:PassRole"], "Resource": "*"},
                    {"Effect": "Deny", "Action": "iam:DeleteInstanceProfile", "Resource": f"{PROFILE_ARN}/svc/Web"},
                    {"Effect": "Deny", "Action": "iam:PassRole", "Resource": f"arn:aws:iam::{ACCOUNT}:role/svc/Web"},
                ],
            }
        ),
    )
    with pytest.raises(AccessDenied, match=f"{PROFILE_ARN}/svc/Web"):
        call("DeleteInstanceProfile", caller=attacker, InstanceProfileName=spelling)
    with pytest.raises(AccessDenied, match="iam:PassRole"):
        call("AddRoleToInstanceProfile", caller=attacker, InstanceProfileName=spelling, RoleName=spelling)
    assert call("GetInstanceProfile", caller=attacker, InstanceProfileName=spelling)["InstanceProfile"]["Roles"] == []

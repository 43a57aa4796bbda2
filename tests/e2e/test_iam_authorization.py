"""Who may call which IAM operation, end to end: AccessDenied in AWS's words for a
principal without permission and success once a policy allows it, for every area of
IAM; explicit denies beating allows wherever they come from; role sessions limited by
the role's policies and a session policy; path-scoped resources; the ``iam:PolicyARN``,
``aws:RequestTag`` and ``aws:TagKeys`` condition keys; and policy changes taking effect
on the very next request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError
from policies import allow, deny, policy, trust_account, unique
from serverproc import Credentials, TesseraServer

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
IAM_READ_ONLY = "arn:aws:iam::aws:policy/IAMReadOnlyAccess"


def denied(call: Callable[[], Any]) -> str:
    """The AccessDenied message ``call`` fails with (403)."""
    with pytest.raises(ClientError) as error:
        call()
    response = error.value.response
    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == ("AccessDenied", 403)
    return str(response["Error"]["Message"])


def not_allowed(principal: str, action: str, resource: str, why: str = "no identity-based policy allows") -> str:
    """AWS's AccessDenied text for an implicit deny."""
    return f"User: {principal} is not authorized to perform: {action} on resource: {resource} because {why} the {action} action"


def explicitly_denied(principal: str, action: str, resource: str, where: str = "an identity-based policy") -> str:
    return f"User: {principal} is not authorized to perform: {action} on resource: {resource} with an explicit deny in {where}"


@dataclass
class Actor:
    """A user with keys and no permissions, and an IAM client acting as it."""

    name: str
    arn: str
    client: Any
    creds: Credentials


def new_actor(server: TesseraServer, document: str | None = None) -> Actor:
    name = unique("actor")
    creds = server.make_user(name, document)
    return Actor(name, f"arn:aws:iam::{server.account_id}:user/{name}", server.client("iam", creds), creds)


# -- denied, then allowed, for each area ----------------------------------------------
@dataclass(frozen=True)
class Case:
    """One representative operation: ``prepare`` makes what it needs as root and
    returns (the call, the IAM action, the resource ARN it is authorized against)."""

    area: str
    prepare: Callable[[Any, TesseraServer], tuple[Callable[[Any], Any], str, str]]


def _arn(server: TesseraServer, kind: str, name: str, path: str = "/") -> str:
    return f"arn:aws:iam::{server.account_id}:{kind}{path}{name}"


def _create_user(iam: Any, server: TesseraServer) -> tuple[Callable[[Any], Any], str, str]:
    name = unique("made")
    return (lambda c: c.create_user(UserName=name)), "iam:CreateUser", _arn(server, "user", name)


def _get_user_on_path(iam: Any, server: TesseraServer) -> tuple[Callable[[Any], Any], str, str]:
    name, path = unique("seen"), f"/{unique('p')}/"
    iam.create_user(UserName=name, Path=path)
    return (lambda c: c.get_user(UserName=name)), "iam:GetUser", _arn(server, "user", name, path)


def _create_access_key(iam: Any, server: TesseraServer) -> tuple[Callable[[Any], Any], str, str]:
    name = unique("keyed")
    iam.create_user(UserName=name)
    return (lambda c: c.create_access_key(UserName=name)), "iam:CreateAccessKey", _arn(server, "user", name)


def _add_user_to_group(iam: Any, server: TesseraServer) -> tuple[Callable[[Any], Any], str, str]:
    group, user = unique("grp"), unique("joiner")
    iam.create_group(GroupName=group)
    iam.create_user(UserName=user)
    return (lambda c: c.add_user_to_group(GroupName=group, UserName=user)), "iam:AddUserToGroup", _arn(server, "group", group)


def _create_role(iam: Any, server: TesseraServer) -> tuple[Callable[[Any], Any], str, str]:
    name = unique("role")
    return (
        (lambda c: c.create_role(RoleName=name, AssumeRolePolicyDocument=trust_account(server.account_id))),
        "iam:CreateRole",
        _arn(server, "role", name),
    )


def _update_role(iam: Any, server: TesseraServer) -> tuple[Callable[[Any], Any], str, str]:
    name = unique("role")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_account(server.account_id))
    return (lambda c: c.update_role(RoleName=name, Description="changed")), "iam:UpdateRole", _arn(server, "role", name)


def _create_policy(iam: Any, server: TesseraServer) -> tuple[Callable[[Any], Any], str, str]:
    name = unique("pol")
    return (
        (lambda c: c.create_policy(PolicyName=name, PolicyDocument=policy(allow("s3:GetObject")))),
        "iam:CreatePolicy",
        _arn(server, "policy", name),
    )


def _create_policy_version(iam: Any, server: TesseraServer) -> tuple[Callable[[Any], Any], str, str]:
    arn = iam.create_policy(PolicyName=unique("pol"), PolicyDocument=policy(allow("s3:GetObject")))["Policy"]["Arn"]
    return (lambda c: c.create_policy_version(PolicyArn=arn, PolicyDocument=policy(allow("s3:PutObject")))), "iam:CreatePolicyVersion", arn


def _attach_role_policy(iam: Any, server: TesseraServer) -> tuple[Callable[[Any], Any], str, str]:
    name = unique("role")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_account(server.account_id))
    return (lambda c: c.attach_role_policy(RoleName=name, PolicyArn=IAM_READ_ONLY)), "iam:AttachRolePolicy", _arn(server, "role", name)


def _put_user_boundary(iam: Any, server: TesseraServer) -> tuple[Callable[[Any], Any], str, str]:
    name = unique("bounded")
    iam.create_user(UserName=name)
    return (
        (lambda c: c.put_user_permissions_boundary(UserName=name, PermissionsBoundary=IAM_READ_ONLY)),
        "iam:PutUserPermissionsBoundary",
        _arn(server, "user", name),
    )


def _create_mfa_device(iam: Any, server: TesseraServer) -> tuple[Callable[[Any], Any], str, str]:
    name = unique("token")
    return (lambda c: c.create_virtual_mfa_device(VirtualMFADeviceName=name)), "iam:CreateVirtualMFADevice", _arn(server, "mfa", name)


def _list_mfa_devices(iam: Any, server: TesseraServer) -> tuple[Callable[[Any], Any], str, str]:
    name = unique("mfauser")
    iam.create_user(UserName=name)
    return (lambda c: c.list_mfa_devices(UserName=name)), "iam:ListMFADevices", _arn(server, "user", name)


def _put_group_policy(iam: Any, server: TesseraServer) -> tuple[Callable[[Any], Any], str, str]:
    name = unique("grp")
    iam.create_group(GroupName=name)
    return (
        (lambda c: c.put_group_policy(GroupName=name, PolicyName="p", PolicyDocument=policy(allow("s3:*")))),
        "iam:PutGroupPolicy",
        _arn(server, "group", name),
    )


CASES = [
    Case("users-create", _create_user),
    Case("users-get-on-path", _get_user_on_path),
    Case("keys-create", _create_access_key),
    Case("groups-add-member", _add_user_to_group),
    Case("groups-inline-policy", _put_group_policy),
    Case("roles-create", _create_role),
    Case("roles-update", _update_role),
    Case("policies-create", _create_policy),
    Case("policies-new-version", _create_policy_version),
    Case("attach-role-policy", _attach_role_policy),
    Case("boundaries-put", _put_user_boundary),
    Case("mfa-create-device", _create_mfa_device),
    Case("mfa-list-devices", _list_mfa_devices),
]


@pytest.mark.parametrize("case", CASES, ids=[c.area for c in CASES])
def test_denied_in_aws_words_until_a_policy_allows(iam: Any, server: TesseraServer, case: Case) -> None:
    actor = new_actor(server)
    call, action, resource = case.prepare(iam, server)
    assert denied(lambda: call(actor.client)) == not_allowed(actor.arn, action, resource)
    iam.put_user_policy(UserName=actor.name, PolicyName="exact", PolicyDocument=policy(allow(action, resource)))
    assert call(actor.client)["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_unscoped_reads_are_authorized_against_star(server: TesseraServer, iam: Any) -> None:
    actor = new_actor(server)
    for call, action in (
        (actor.client.get_account_summary, "iam:GetAccountSummary"),
        (actor.client.list_virtual_mfa_devices, "iam:ListVirtualMFADevices"),
    ):
        assert denied(call) == not_allowed(actor.arn, action, "*")
    iam.put_user_policy(
        UserName=actor.name, PolicyName="reads", PolicyDocument=policy(allow(["iam:GetAccountSummary", "iam:ListVirtualMFADevices"]))
    )
    assert actor.client.get_account_summary()["SummaryMap"]["UsersQuota"] == 5000
    assert "VirtualMFADevices" in actor.client.list_virtual_mfa_devices()


# -- explicit deny wins ---------------------------------------------------------------
def test_group_deny_beats_user_allow(iam: Any, server: TesseraServer) -> None:
    actor = new_actor(server, policy(allow(["iam:ListRoles", "iam:ListGroups"])))
    group = unique("deniers")
    iam.create_group(GroupName=group)
    iam.put_group_policy(GroupName=group, PolicyName="no-roles", PolicyDocument=policy(deny("iam:ListRoles")))
    actor.client.list_roles()
    iam.add_user_to_group(GroupName=group, UserName=actor.name)
    resource = f"arn:aws:iam::{server.account_id}:role/"
    assert denied(actor.client.list_roles) == explicitly_denied(actor.arn, "iam:ListRoles", resource)
    assert "Groups" in actor.client.list_groups()
    iam.remove_user_from_group(GroupName=group, UserName=actor.name)
    assert "Roles" in actor.client.list_roles()


def test_managed_deny_beats_administrator_access(iam: Any, server: TesseraServer) -> None:
    actor = new_actor(server)
    iam.attach_user_policy(UserName=actor.name, PolicyArn=ADMIN)
    victim = unique("protected")
    iam.create_user(UserName=victim, Tags=[{"Key": "protected", "Value": "yes"}])
    guard = iam.create_policy(
        PolicyName=unique("guard"),
        PolicyDocument=policy(deny("iam:DeleteUser", Condition={"StringEquals": {"aws:ResourceTag/protected": "yes"}})),
    )["Policy"]["Arn"]
    iam.attach_user_policy(UserName=actor.name, PolicyArn=guard)
    target = f"arn:aws:iam::{server.account_id}:user/{victim}"
    assert denied(lambda: actor.client.delete_user(UserName=victim)) == explicitly_denied(actor.arn, "iam:DeleteUser", target)
    other = unique("unprotected")
    actor.client.create_user(UserName=other)
    actor.client.delete_user(UserName=other)


def test_boundary_and_admin_user_policy_allow_only_their_intersection(iam: Any, server: TesseraServer) -> None:
    actor = new_actor(server)
    iam.attach_user_policy(UserName=actor.name, PolicyArn=ADMIN)
    iam.put_user_permissions_boundary(UserName=actor.name, PermissionsBoundary=IAM_READ_ONLY)
    actor.client.list_users()
    name = unique("nope")
    assert denied(lambda: actor.client.create_user(UserName=name)) == not_allowed(
        actor.arn, "iam:CreateUser", f"arn:aws:iam::{server.account_id}:user/{name}", "no permissions boundary allows"
    )


# -- role sessions --------------------------------------------------------------------
def test_role_session_is_limited_by_role_policies_and_session_policy(iam: Any, server: TesseraServer) -> None:
    role = unique("worker")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust_account(server.account_id))
    iam.put_role_policy(RoleName=role, PolicyName="reads", PolicyDocument=policy(allow(["iam:ListUsers", "iam:ListGroups", "iam:GetRole"])))
    caller = new_actor(server, policy(allow("sts:AssumeRole", f"arn:aws:iam::{server.account_id}:role/{role}")))
    sts = server.client("sts", caller.creds)
    role_arn = f"arn:aws:iam::{server.account_id}:role/{role}"
    full = sts.assume_role(RoleArn=role_arn, RoleSessionName="full")["Credentials"]
    session = server.client("iam", Credentials.from_response(full))
    session_arn = f"arn:aws:sts::{server.account_id}:assumed-role/{role}/full"
    assert "Users" in session.list_users() and "Groups" in session.list_groups()
    assert denied(session.list_roles) == not_allowed(session_arn, "iam:ListRoles", f"arn:aws:iam::{server.account_id}:role/")
    limited = sts.assume_role(RoleArn=role_arn, RoleSessionName="limited", Policy=policy(allow(["iam:ListUsers", "iam:ListRoles"])))[
        "Credentials"
    ]
    narrow = server.client("iam", Credentials.from_response(limited))
    narrow_arn = f"arn:aws:sts::{server.account_id}:assumed-role/{role}/limited"
    assert "Users" in narrow.list_users()
    assert denied(narrow.list_groups) == not_allowed(
        narrow_arn, "iam:ListGroups", f"arn:aws:iam::{server.account_id}:group/", "no session policy allows"
    )
    assert denied(narrow.list_roles) == not_allowed(narrow_arn, "iam:ListRoles", f"arn:aws:iam::{server.account_id}:role/")
    iam.put_role_policy(RoleName=role, PolicyName="deny-users", PolicyDocument=policy(deny("iam:ListUsers")))
    assert "explicit deny" in denied(narrow.list_users)  # the role's policies are read per request


# -- path-scoped resources ------------------------------------------------------------
def test_path_scoped_resource_arns(iam: Any, server: TesseraServer) -> None:
    team = unique("team")
    scope = f"arn:aws:iam::{server.account_id}:user/{team}/*"
    actor = new_actor(server, policy(allow(["iam:CreateUser", "iam:GetUser", "iam:DeleteUser"], scope)))
    inside, nested, outside = unique("in"), unique("deep"), unique("out")
    actor.client.create_user(UserName=inside, Path=f"/{team}/")
    actor.client.create_user(UserName=nested, Path=f"/{team}/sub/")
    assert actor.client.get_user(UserName=nested)["User"]["Path"] == f"/{team}/sub/"
    assert denied(lambda: actor.client.create_user(UserName=outside)) == not_allowed(
        actor.arn, "iam:CreateUser", f"arn:aws:iam::{server.account_id}:user/{outside}"
    )
    iam.create_user(UserName=outside, Path="/elsewhere/")
    assert denied(lambda: actor.client.get_user(UserName=outside)) == not_allowed(
        actor.arn, "iam:GetUser", f"arn:aws:iam::{server.account_id}:user/elsewhere/{outside}"
    )
    actor.client.delete_user(UserName=inside)
    iam.update_user(UserName=nested, NewPath="/moved/")  # leaving the path takes it out of reach
    assert "iam:DeleteUser" in denied(lambda: actor.client.delete_user(UserName=nested))


# -- condition keys -------------------------------------------------------------------
def test_policy_arn_condition_limits_what_may_be_attached(iam: Any, server: TesseraServer) -> None:
    condition = {"ArnEquals": {"iam:PolicyARN": IAM_READ_ONLY}}
    actor = new_actor(server, policy(allow(["iam:AttachUserPolicy", "iam:DetachUserPolicy"], Condition=condition)))
    target = unique("grantee")
    iam.create_user(UserName=target)
    actor.client.attach_user_policy(UserName=target, PolicyArn=IAM_READ_ONLY)
    target_arn = f"arn:aws:iam::{server.account_id}:user/{target}"
    assert denied(lambda: actor.client.attach_user_policy(UserName=target, PolicyArn=ADMIN)) == not_allowed(
        actor.arn, "iam:AttachUserPolicy", target_arn
    )
    iam.attach_user_policy(UserName=target, PolicyArn=ADMIN)
    assert "iam:DetachUserPolicy" in denied(lambda: actor.client.detach_user_policy(UserName=target, PolicyArn=ADMIN))
    actor.client.detach_user_policy(UserName=target, PolicyArn=IAM_READ_ONLY)


def test_request_tag_and_tag_keys_conditions(iam: Any, server: TesseraServer) -> None:
    conditions = {"StringEquals": {"aws:RequestTag/team": "blue"}, "ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}
    actor = new_actor(
        server,
        policy(
            allow(["iam:CreateUser", "iam:TagUser"], Condition=conditions),
            allow("iam:UntagUser", Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["temp"]}}),
        ),
    )
    blue = unique("blue")
    actor.client.create_user(UserName=blue, Tags=[{"Key": "team", "Value": "blue"}])
    cases = {
        "wrong value": [{"Key": "team", "Value": "red"}],
        "extra key": [{"Key": "team", "Value": "blue"}, {"Key": "cost", "Value": "1"}],
        "no tags": [],
    }
    for tags in cases.values():
        name = unique("refused")
        assert "iam:CreateUser" in denied(lambda name=name, tags=tags: actor.client.create_user(UserName=name, Tags=tags))
    actor.client.tag_user(UserName=blue, Tags=[{"Key": "team", "Value": "blue"}])
    assert "iam:TagUser" in denied(lambda: actor.client.tag_user(UserName=blue, Tags=[{"Key": "temp", "Value": "1"}]))
    iam.tag_user(UserName=blue, Tags=[{"Key": "temp", "Value": "1"}])
    assert "iam:UntagUser" in denied(lambda: actor.client.untag_user(UserName=blue, TagKeys=["team"]))
    actor.client.untag_user(UserName=blue, TagKeys=["temp"])
    assert iam.list_user_tags(UserName=blue)["Tags"] == [{"Key": "team", "Value": "blue"}]


# -- changes apply on the next request --------------------------------------------------
def test_policy_changes_take_effect_on_the_next_request(iam: Any, server: TesseraServer) -> None:
    actor = new_actor(server)
    resource = f"arn:aws:iam::{server.account_id}:group/"
    refused = not_allowed(actor.arn, "iam:ListGroups", resource)
    assert denied(actor.client.list_groups) == refused
    iam.put_user_policy(UserName=actor.name, PolicyName="inline", PolicyDocument=policy(allow("iam:ListGroups")))
    assert "Groups" in actor.client.list_groups()
    iam.delete_user_policy(UserName=actor.name, PolicyName="inline")
    assert denied(actor.client.list_groups) == refused
    arn = iam.create_policy(PolicyName=unique("lists"), PolicyDocument=policy(allow("iam:ListGroups")))["Policy"]["Arn"]
    iam.attach_user_policy(UserName=actor.name, PolicyArn=arn)
    assert "Groups" in actor.client.list_groups()
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=policy(allow("iam:ListRoles")), SetAsDefault=True)
    assert denied(actor.client.list_groups) == refused
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v1")
    assert "Groups" in actor.client.list_groups()
    iam.detach_user_policy(UserName=actor.name, PolicyArn=arn)
    assert denied(actor.client.list_groups) == refused
    group = unique("via-group")
    iam.create_group(GroupName=group)
    iam.attach_group_policy(GroupName=group, PolicyArn=arn)
    iam.add_user_to_group(GroupName=group, UserName=actor.name)
    assert "Groups" in actor.client.list_groups()
    iam.put_user_permissions_boundary(UserName=actor.name, PermissionsBoundary=IAM_READ_ONLY)
    iam.put_user_policy(UserName=actor.name, PolicyName="deny", PolicyDocument=policy(deny("iam:List*")))
    assert "explicit deny" in denied(actor.client.list_groups)


def test_username_variable_grants_self_service_only(iam: Any, server: TesseraServer) -> None:
    own = f"arn:aws:iam::{server.account_id}:user/${{aws:username}}"
    actor = new_actor(server, policy(allow(["iam:ListAccessKeys", "iam:CreateAccessKey", "iam:DeleteAccessKey"], own)))
    created = actor.client.create_access_key()["AccessKey"]
    assert created["UserName"] == actor.name
    assert len(actor.client.list_access_keys(UserName=actor.name)["AccessKeyMetadata"]) == 2
    actor.client.delete_access_key(AccessKeyId=created["AccessKeyId"])
    other = unique("neighbour")
    iam.create_user(UserName=other)
    assert denied(lambda: actor.client.list_access_keys(UserName=other)) == not_allowed(
        actor.arn, "iam:ListAccessKeys", f"arn:aws:iam::{server.account_id}:user/{other}"
    )

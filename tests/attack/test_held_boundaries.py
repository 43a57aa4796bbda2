"""Permissions boundaries from the attacker's side: a boundary caps what a user, a role session,
a chained session and a federated user may do whatever identity, group, session or passed
policies say, and the bounded principal cannot move the boundary (delete it, replace it,
rewrite the boundary policy, or create an unbounded helper) without permission.

https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html
"""

from __future__ import annotations

import itertools

import pytest
from attackkit import allow, deny, error_code_of, policy
from serverproc import Credentials, TesseraServer

ADMIN_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"
DENIED = {"AccessDenied", "AccessDeniedException"}
_serial = itertools.count()


@pytest.fixture(scope="module")
def server(target: TesseraServer) -> TesseraServer:
    return target


def _boundary(server: TesseraServer, *statements: dict[str, object]) -> str:
    reply = server.client("iam").create_policy(PolicyName=f"bnd{next(_serial)}", PolicyDocument=policy(*statements))
    return str(reply["Policy"]["Arn"])


def _bounded_user(server: TesseraServer, boundary: str, *statements: dict[str, object]) -> tuple[str, Credentials]:
    name = f"bnduser{next(_serial)}"
    creds = server.make_user(name, policy(*statements) if statements else None)
    server.client("iam").put_user_permissions_boundary(UserName=name, PermissionsBoundary=boundary)
    return name, creds


def _role(server: TesseraServer, name: str, trusted: str, boundary: str | None = None) -> str:
    iam = server.client("iam")
    trust = policy({"Effect": "Allow", "Principal": {"AWS": trusted}, "Action": "sts:AssumeRole"})
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)
    iam.attach_role_policy(RoleName=name, PolicyArn=ADMIN_POLICY)
    if boundary:
        iam.put_role_permissions_boundary(RoleName=name, PermissionsBoundary=boundary)
    return f"arn:aws:iam::{server.account_id}:role/{name}"


def _assume(server: TesseraServer, creds: Credentials, role_arn: str, **extra: object) -> Credentials:
    reply = server.client("sts", creds).assume_role(RoleArn=role_arn, RoleSessionName="bounded", **extra)
    return Credentials.from_response(reply["Credentials"])


def test_a_boundary_caps_every_policy_kind_of_a_user(server: TesseraServer) -> None:
    boundary = _boundary(server, allow(["iam:ListUsers", "iam:GetUser", "sts:*"]))
    name, creds = _bounded_user(server, boundary, allow("*"))
    iam = server.client("iam")
    iam.attach_user_policy(UserName=name, PolicyArn=ADMIN_POLICY)
    group = f"{name}-g"
    iam.create_group(GroupName=group)
    iam.put_group_policy(GroupName=group, PolicyName="all", PolicyDocument=policy(allow("*")))
    iam.add_user_to_group(GroupName=group, UserName=name)
    mine = server.client("iam", creds)
    assert error_code_of(mine.list_users) == ""
    for call, params in [
        (mine.create_user, {"UserName": f"{name}-x"}),
        (mine.list_roles, {}),
        (mine.delete_user_permissions_boundary, {"UserName": name}),
        (mine.put_user_permissions_boundary, {"UserName": name, "PermissionsBoundary": ADMIN_POLICY}),
        (mine.create_policy_version, {"PolicyArn": boundary, "PolicyDocument": policy(allow("*")), "SetAsDefault": True}),
        (mine.create_access_key, {"UserName": name}),
    ]:
        assert error_code_of(call, **params) in DENIED, call
    assert server.client("iam").get_user(UserName=name)["User"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
    assert len(server.client("iam").list_policy_versions(PolicyArn=boundary)["Versions"]) == 1


def test_a_boundary_deny_beats_an_allow_in_the_boundary_and_the_identity(server: TesseraServer) -> None:
    boundary = _boundary(server, allow("*"), deny("iam:CreateGroup"))
    name, creds = _bounded_user(server, boundary, allow("*"))
    mine = server.client("iam", creds)
    assert error_code_of(mine.create_group, GroupName=f"{name}-g") in DENIED
    assert error_code_of(mine.list_groups) == ""


def test_a_bounded_user_cannot_lend_itself_more_through_a_federation_token_or_a_new_user(server: TesseraServer) -> None:
    boundary = _boundary(
        server, allow(["sts:GetFederationToken", "sts:GetCallerIdentity", "iam:CreateUser", "iam:CreateAccessKey", "iam:PutUserPolicy"])
    )
    name, creds = _bounded_user(server, boundary, allow("*"))
    federated = Credentials.from_response(
        server.client("sts", creds).get_federation_token(Name="bounded-fed", Policy=policy(allow("*")))["Credentials"]
    )
    assert error_code_of(server.client("organizations", federated).list_roots) in DENIED
    # the delegated-admin pattern: a user created by a bounded user is only as strong as its own policies
    mine = server.client("iam", creds)
    helper = f"{name}-helper"
    mine.create_user(UserName=helper)
    mine.put_user_policy(UserName=helper, PolicyName="all", PolicyDocument=policy(allow("*")))
    key = mine.create_access_key(UserName=helper)["AccessKey"]
    # (AWS allows this unless a condition on iam:PermissionsBoundary forbids it; the next test closes it)
    helper_creds = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    assert error_code_of(server.client("iam", helper_creds).list_users) == ""


def test_a_permissions_boundary_condition_forces_new_users_under_the_boundary(server: TesseraServer) -> None:
    """AWS's delegation pattern: CreateUser and PutUserPermissionsBoundary allowed only with
    ``iam:PermissionsBoundary`` equal to the boundary, and DeleteUserPermissionsBoundary denied
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html#access_policies_boundaries-delegate)."""
    boundary = _boundary(server, allow(["iam:ListUsers", "sts:GetCallerIdentity"]))
    condition = {"StringEquals": {"iam:PermissionsBoundary": boundary}}
    name = f"bndadmin{next(_serial)}"
    admin = server.make_user(
        name,
        policy(
            allow(["iam:CreateUser", "iam:PutUserPermissionsBoundary"], Condition=condition),
            allow(["iam:PutUserPolicy", "iam:CreateAccessKey", "iam:ListUsers"]),
            deny("iam:DeleteUserPermissionsBoundary"),
        ),
    )
    mine = server.client("iam", admin)
    assert error_code_of(mine.create_user, UserName=f"{name}-free") in DENIED
    assert error_code_of(mine.create_user, UserName=f"{name}-other", PermissionsBoundary=ADMIN_POLICY) in DENIED
    assert error_code_of(server.client("iam").get_user, UserName=f"{name}-free") == "NoSuchEntity"
    mine.create_user(UserName=f"{name}-ok", PermissionsBoundary=boundary)
    assert error_code_of(mine.put_user_permissions_boundary, UserName=f"{name}-ok", PermissionsBoundary=ADMIN_POLICY) in DENIED
    assert error_code_of(mine.delete_user_permissions_boundary, UserName=f"{name}-ok") in DENIED
    mine.put_user_policy(UserName=f"{name}-ok", PolicyName="all", PolicyDocument=policy(allow("*")))
    key = mine.create_access_key(UserName=f"{name}-ok")["AccessKey"]
    made = server.client("iam", Credentials(key["AccessKeyId"], key["SecretAccessKey"]))
    assert error_code_of(made.list_users) == ""
    assert error_code_of(made.create_group, GroupName=f"{name}-g") in DENIED


def test_a_role_boundary_caps_its_sessions_chained_sessions_and_session_policies(server: TesseraServer) -> None:
    boundary = _boundary(server, allow(["iam:ListUsers", "sts:AssumeRole", "sts:GetCallerIdentity"]))
    name = f"bndrole{next(_serial)}"
    caller = server.make_user(name, policy(allow("sts:AssumeRole")))
    account_root = f"arn:aws:iam::{server.account_id}:root"
    bounded = _role(server, f"{name}-bounded", account_root, boundary)
    free = _role(server, f"{name}-free", account_root)
    session = _assume(server, caller, bounded, Policy=policy(allow("*")))
    iam = server.client("iam", session)
    assert error_code_of(iam.list_users) == ""
    assert error_code_of(iam.list_roles) in DENIED
    assert error_code_of(iam.delete_role_permissions_boundary, RoleName=f"{name}-bounded") in DENIED
    assert error_code_of(iam.attach_role_policy, RoleName=f"{name}-bounded", PolicyArn=ADMIN_POLICY) in DENIED
    # the bounded session may step into an unbounded role, which has its own permissions, as in AWS
    chained = _assume(server, session, free)
    assert error_code_of(server.client("iam", chained).list_roles) == ""
    # but a chained session into a bounded role stays bounded, whatever the first hop could do
    again = _assume(server, _assume(server, caller, free), bounded, Policy=policy(allow("*")))
    assert error_code_of(server.client("iam", again).list_roles) in DENIED
    assert error_code_of(server.client("iam", again).list_users) == ""


def test_an_empty_boundary_denies_everything(server: TesseraServer) -> None:
    boundary = _boundary(server, deny("*"))
    name, creds = _bounded_user(server, boundary, allow("*"))
    mine = server.client("iam", creds)
    assert error_code_of(mine.list_users) in DENIED
    assert error_code_of(mine.delete_user_permissions_boundary, UserName=name) in DENIED
    assert error_code_of(server.client("sts", creds).get_federation_token, Name="nothing") in DENIED

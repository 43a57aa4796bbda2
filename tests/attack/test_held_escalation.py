"""The classic IAM privilege-escalation paths, each tried twice by a low-privileged attacker:
without the permission the path needs (every step is AccessDenied, nothing is changed, and
the prize stays out of reach) and with it (the path works, as in AWS, and the resulting
effective permissions are what the path grants: no more).

The prize is ``iam:ListUsers`` and ``iam:CreateGroup``, which no attacker is given directly.
Paths follow the IAM actions AWS lists as able to change permissions
(https://docs.aws.amazon.com/IAM/latest/UserGuide/access_permissions-required.html,
https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_manage-versions.html).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from attackkit import allow, error_code_of, policy
from botocore.exceptions import ClientError
from serverproc import Credentials, TesseraServer

ADMIN_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"
ADMIN = policy(allow("*"))
DENIED = {"AccessDenied", "AccessDeniedException"}
_serial = itertools.count()


@dataclass
class Attack:
    """One attacker's world: its user, credentials and whatever the path set up."""

    server: TesseraServer
    name: str
    creds: Credentials
    things: dict[str, str] = field(default_factory=dict)

    @property
    def account(self) -> str:
        return self.server.account_id

    def arn(self, kind: str, name: str) -> str:
        return f"arn:aws:iam::{self.account}:{kind}/{name}"

    def iam(self, creds: Credentials | None = None) -> Any:
        return self.server.client("iam", creds or self.creds)

    def sts(self, creds: Credentials | None = None) -> Any:
        return self.server.client("sts", creds or self.creds)

    def assume(self, role: str, creds: Credentials | None = None) -> Credentials:
        reply = self.sts(creds).assume_role(RoleArn=self.arn("role", role), RoleSessionName="escalate")
        return Credentials.from_response(reply["Credentials"])


@dataclass(frozen=True)
class Path:
    name: str
    needs: Callable[[Attack], list[dict[str, Any]]]  # the statements that open the path
    setup: Callable[[Attack], None]  # done by root before the attack
    exploit: Callable[[Attack], Credentials]  # the attacker's steps; the credentials that now hold the prize
    unchanged: Callable[[Attack], bool] = lambda attack: True  # after a refused attack: nothing was written


def _nothing(attack: Attack) -> None:
    return None


def _root_iam(attack: Attack) -> Any:
    return attack.server.client("iam")


# -- the paths ---------------------------------------------------------------------------------------
def _managed_attached_to_attacker(attack: Attack) -> None:
    arn = _root_iam(attack).create_policy(PolicyName=f"{attack.name}-p", PolicyDocument=policy(allow("sts:GetCallerIdentity")))
    attack.things["policy"] = arn["Policy"]["Arn"]
    _root_iam(attack).attach_user_policy(UserName=attack.name, PolicyArn=attack.things["policy"])


def _create_policy_version(attack: Attack) -> Credentials:
    attack.iam().create_policy_version(PolicyArn=attack.things["policy"], PolicyDocument=ADMIN, SetAsDefault=True)
    return attack.creds


def _only_one_version(attack: Attack) -> bool:
    versions = _root_iam(attack).list_policy_versions(PolicyArn=attack.things["policy"])["Versions"]
    return len(versions) == 1


def _with_admin_version(attack: Attack) -> None:
    _managed_attached_to_attacker(attack)
    _root_iam(attack).create_policy_version(PolicyArn=attack.things["policy"], PolicyDocument=ADMIN, SetAsDefault=False)


def _set_default_version(attack: Attack) -> Credentials:
    attack.iam().set_default_policy_version(PolicyArn=attack.things["policy"], VersionId="v2")
    return attack.creds


def _default_is_v1(attack: Attack) -> bool:
    return bool(_root_iam(attack).get_policy(PolicyArn=attack.things["policy"])["Policy"]["DefaultVersionId"] == "v1")


def _attach_user(attack: Attack) -> Credentials:
    attack.iam().attach_user_policy(UserName=attack.name, PolicyArn=ADMIN_POLICY)
    return attack.creds


def _no_user_attachments(attack: Attack) -> bool:
    return not _root_iam(attack).list_attached_user_policies(UserName=attack.name)["AttachedPolicies"]


def _put_user(attack: Attack) -> Credentials:
    attack.iam().put_user_policy(UserName=attack.name, PolicyName="mine", PolicyDocument=ADMIN)
    return attack.creds


def _only_base_inline(attack: Attack) -> bool:
    return bool(_root_iam(attack).list_user_policies(UserName=attack.name)["PolicyNames"] == ["base"])


def _attacker_in_group(attack: Attack) -> None:
    attack.things["group"] = f"{attack.name}-g"
    _root_iam(attack).create_group(GroupName=attack.things["group"])
    _root_iam(attack).add_user_to_group(GroupName=attack.things["group"], UserName=attack.name)


def _attach_group(attack: Attack) -> Credentials:
    attack.iam().attach_group_policy(GroupName=attack.things["group"], PolicyArn=ADMIN_POLICY)
    return attack.creds


def _put_group(attack: Attack) -> Credentials:
    attack.iam().put_group_policy(GroupName=attack.things["group"], PolicyName="mine", PolicyDocument=ADMIN)
    return attack.creds


def _group_untouched(attack: Attack) -> bool:
    iam = _root_iam(attack)
    group = attack.things["group"]
    return (
        not iam.list_attached_group_policies(GroupName=group)["AttachedPolicies"]
        and not iam.list_group_policies(GroupName=group)["PolicyNames"]
    )


def _admins_group(attack: Attack) -> None:
    attack.things["group"] = f"{attack.name}-admins"
    _root_iam(attack).create_group(GroupName=attack.things["group"])
    _root_iam(attack).attach_group_policy(GroupName=attack.things["group"], PolicyArn=ADMIN_POLICY)


def _add_to_group(attack: Attack) -> Credentials:
    attack.iam().add_user_to_group(GroupName=attack.things["group"], UserName=attack.name)
    return attack.creds


def _not_in_group(attack: Attack) -> bool:
    return not _root_iam(attack).list_groups_for_user(UserName=attack.name)["Groups"]


def _assumable_empty_role(attack: Attack) -> None:
    attack.things["role"] = f"{attack.name}-r"
    trust = policy({"Effect": "Allow", "Principal": {"AWS": attack.arn("user", attack.name)}, "Action": "sts:AssumeRole"})
    _root_iam(attack).create_role(RoleName=attack.things["role"], AssumeRolePolicyDocument=trust)


def _attach_role(attack: Attack) -> Credentials:
    attack.iam().attach_role_policy(RoleName=attack.things["role"], PolicyArn=ADMIN_POLICY)
    return attack.assume(attack.things["role"])


def _put_role(attack: Attack) -> Credentials:
    attack.iam().put_role_policy(RoleName=attack.things["role"], PolicyName="mine", PolicyDocument=ADMIN)
    return attack.assume(attack.things["role"])


def _role_untouched(attack: Attack) -> bool:
    iam = _root_iam(attack)
    role = attack.things["role"]
    return (
        not iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] and not iam.list_role_policies(RoleName=role)["PolicyNames"]
    )


def _admin_role_trusting_someone_else(attack: Attack) -> None:
    attack.things["role"] = f"{attack.name}-admin-r"
    other = attack.server.make_user(f"{attack.name}-other")
    del other
    trust = policy({"Effect": "Allow", "Principal": {"AWS": attack.arn("user", f"{attack.name}-other")}, "Action": "sts:AssumeRole"})
    _root_iam(attack).create_role(RoleName=attack.things["role"], AssumeRolePolicyDocument=trust)
    _root_iam(attack).put_role_policy(RoleName=attack.things["role"], PolicyName="admin", PolicyDocument=ADMIN)


def _update_trust(attack: Attack) -> Credentials:
    trust = policy({"Effect": "Allow", "Principal": {"AWS": attack.arn("user", attack.name)}, "Action": "sts:AssumeRole"})
    attack.iam().update_assume_role_policy(RoleName=attack.things["role"], PolicyDocument=trust)
    return attack.assume(attack.things["role"])


def _trust_untouched(attack: Attack) -> bool:
    document = _root_iam(attack).get_role(RoleName=attack.things["role"])["Role"]["AssumeRolePolicyDocument"]
    return attack.name + "-other" in str(document) and f"user/{attack.name}'" not in str(document)


def _admin_user(attack: Attack) -> None:
    attack.things["victim"] = f"{attack.name}-admin"
    _root_iam(attack).create_user(UserName=attack.things["victim"])
    _root_iam(attack).put_user_policy(UserName=attack.things["victim"], PolicyName="admin", PolicyDocument=ADMIN)


def _key_for_victim(attack: Attack) -> Credentials:
    key = attack.iam().create_access_key(UserName=attack.things["victim"])["AccessKey"]
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"])


def _victim_has_no_key(attack: Attack) -> bool:
    return not _root_iam(attack).list_access_keys(UserName=attack.things["victim"])["AccessKeyMetadata"]


def _create_role_trusting_self(attack: Attack) -> Credentials:
    attack.things["role"] = f"{attack.name}-own"
    trust = policy({"Effect": "Allow", "Principal": {"AWS": attack.arn("user", attack.name)}, "Action": "sts:AssumeRole"})
    attack.iam().create_role(RoleName=attack.things["role"], AssumeRolePolicyDocument=trust)
    attack.iam().put_role_policy(RoleName=attack.things["role"], PolicyName="admin", PolicyDocument=ADMIN)
    return attack.assume(attack.things["role"])


def _no_own_role(attack: Attack) -> bool:
    return error_code_of(_root_iam(attack).get_role, RoleName=f"{attack.name}-own") == "NoSuchEntity"


def _bounded_admin(attack: Attack) -> None:
    """The attacker holds AdministratorAccess, capped by a boundary allowing only what it needs."""
    _root_iam(attack).attach_user_policy(UserName=attack.name, PolicyArn=ADMIN_POLICY)
    boundary = _root_iam(attack).create_policy(
        PolicyName=f"{attack.name}-boundary",
        PolicyDocument=policy(
            allow(["sts:GetCallerIdentity", "sts:AssumeRole", "iam:DeleteUserPermissionsBoundary", "iam:PutUserPermissionsBoundary"])
        ),
    )
    attack.things["boundary"] = boundary["Policy"]["Arn"]
    _root_iam(attack).put_user_permissions_boundary(UserName=attack.name, PermissionsBoundary=attack.things["boundary"])


def _delete_own_boundary(attack: Attack) -> Credentials:
    attack.iam().delete_user_permissions_boundary(UserName=attack.name)
    return attack.creds


def _put_admin_boundary(attack: Attack) -> Credentials:
    attack.iam().put_user_permissions_boundary(UserName=attack.name, PermissionsBoundary=ADMIN_POLICY)
    return attack.creds


def _boundary_kept(attack: Attack) -> bool:
    user = _root_iam(attack).get_user(UserName=attack.name)["User"]
    return bool(user.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn") == attack.things["boundary"])


def _bounded_admin_role(attack: Attack) -> None:
    attack.things["role"] = f"{attack.name}-bounded"
    trust = policy({"Effect": "Allow", "Principal": {"AWS": attack.arn("user", attack.name)}, "Action": "sts:AssumeRole"})
    iam = _root_iam(attack)
    iam.create_role(RoleName=attack.things["role"], AssumeRolePolicyDocument=trust)
    iam.attach_role_policy(RoleName=attack.things["role"], PolicyArn=ADMIN_POLICY)
    boundary = iam.create_policy(PolicyName=f"{attack.name}-rb", PolicyDocument=policy(allow("sts:GetCallerIdentity")))
    attack.things["boundary"] = boundary["Policy"]["Arn"]
    iam.put_role_permissions_boundary(RoleName=attack.things["role"], PermissionsBoundary=attack.things["boundary"])


def _delete_role_boundary(attack: Attack) -> Credentials:
    attack.iam().delete_role_permissions_boundary(RoleName=attack.things["role"])
    return attack.assume(attack.things["role"])


def _put_role_boundary(attack: Attack) -> Credentials:
    attack.iam().put_role_permissions_boundary(RoleName=attack.things["role"], PermissionsBoundary=ADMIN_POLICY)
    return attack.assume(attack.things["role"])


def _role_boundary_kept(attack: Attack) -> bool:
    role = _root_iam(attack).get_role(RoleName=attack.things["role"])["Role"]
    return bool(role.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn") == attack.things["boundary"])


def _chain(attack: Attack) -> None:
    """Role ``top`` (admin) trusts its account, so a principal of the account needs its own
    ``sts:AssumeRole`` permission (a trust naming the hop role's ARN itself would be enough
    alone, as in AWS); whether the hop role's session has it is what is under test."""
    iam = _root_iam(attack)
    hop, top = f"{attack.name}-hop", f"{attack.name}-top"
    attack.things.update(hop=hop, top=top)
    trust_user = policy({"Effect": "Allow", "Principal": {"AWS": attack.arn("user", attack.name)}, "Action": "sts:AssumeRole"})
    iam.create_role(RoleName=hop, AssumeRolePolicyDocument=trust_user)
    trust_hop = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{attack.account}:root"}, "Action": "sts:AssumeRole"})
    iam.create_role(RoleName=top, AssumeRolePolicyDocument=trust_hop)
    iam.put_role_policy(RoleName=top, PolicyName="admin", PolicyDocument=ADMIN)


def _chain_needs(attack: Attack) -> list[dict[str, Any]]:
    return []  # the permission sits on the hop role, set in _chain_grant


def _chained_assume(attack: Attack) -> Credentials:
    return attack.assume(attack.things["top"], attack.assume(attack.things["hop"]))


def _tag_gated_role(attack: Attack) -> None:
    attack.things["role"] = f"{attack.name}-abac"
    trust = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{attack.account}:root"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:PrincipalTag/team": "admins"}},
        }
    )
    _root_iam(attack).create_role(RoleName=attack.things["role"], AssumeRolePolicyDocument=trust)
    _root_iam(attack).put_role_policy(RoleName=attack.things["role"], PolicyName="admin", PolicyDocument=ADMIN)


def _tag_self(attack: Attack) -> Credentials:
    attack.iam().tag_user(UserName=attack.name, Tags=[{"Key": "team", "Value": "admins"}])
    return attack.assume(attack.things["role"])


def _untagged(attack: Attack) -> bool:
    return not _root_iam(attack).list_user_tags(UserName=attack.name)["Tags"]


def _res(kind: str, suffix: str = "") -> Callable[[Attack], str]:
    return lambda attack: attack.arn(kind, attack.name + suffix)


PATHS = [
    Path(
        "CreatePolicyVersion-SetAsDefault",
        lambda a: [allow("iam:CreatePolicyVersion", a.things["policy"])],
        _managed_attached_to_attacker,
        _create_policy_version,
        _only_one_version,
    ),
    Path(
        "SetDefaultPolicyVersion",
        lambda a: [allow("iam:SetDefaultPolicyVersion", a.things["policy"])],
        _with_admin_version,
        _set_default_version,
        _default_is_v1,
    ),
    Path("AttachUserPolicy", lambda a: [allow("iam:AttachUserPolicy", _res("user")(a))], _nothing, _attach_user, _no_user_attachments),
    Path("PutUserPolicy", lambda a: [allow("iam:PutUserPolicy", _res("user")(a))], _nothing, _put_user, _only_base_inline),
    Path(
        "AttachGroupPolicy",
        lambda a: [allow("iam:AttachGroupPolicy", _res("group", "-g")(a))],
        _attacker_in_group,
        _attach_group,
        _group_untouched,
    ),
    Path(
        "PutGroupPolicy", lambda a: [allow("iam:PutGroupPolicy", _res("group", "-g")(a))], _attacker_in_group, _put_group, _group_untouched
    ),
    Path(
        "AddUserToGroup", lambda a: [allow("iam:AddUserToGroup", _res("group", "-admins")(a))], _admins_group, _add_to_group, _not_in_group
    ),
    Path(
        "AttachRolePolicy",
        lambda a: [allow("iam:AttachRolePolicy", _res("role", "-r")(a))],
        _assumable_empty_role,
        _attach_role,
        _role_untouched,
    ),
    Path("PutRolePolicy", lambda a: [allow("iam:PutRolePolicy", _res("role", "-r")(a))], _assumable_empty_role, _put_role, _role_untouched),
    Path(
        "UpdateAssumeRolePolicy",
        lambda a: [allow("iam:UpdateAssumeRolePolicy", _res("role", "-admin-r")(a))],
        _admin_role_trusting_someone_else,
        _update_trust,
        _trust_untouched,
    ),
    Path(
        "CreateAccessKey-for-another-user",
        lambda a: [allow("iam:CreateAccessKey", _res("user", "-admin")(a))],
        _admin_user,
        _key_for_victim,
        _victim_has_no_key,
    ),
    Path(
        "CreateRole-and-PutRolePolicy",
        lambda a: [allow(["iam:CreateRole", "iam:PutRolePolicy"], _res("role", "-own")(a))],
        _nothing,
        _create_role_trusting_self,
        _no_own_role,
    ),
    Path("DeleteUserPermissionsBoundary", lambda a: [], _bounded_admin, _delete_own_boundary, _boundary_kept),
    Path("PutUserPermissionsBoundary", lambda a: [], _bounded_admin, _put_admin_boundary, _boundary_kept),
    Path(
        "DeleteRolePermissionsBoundary",
        lambda a: [allow("iam:DeleteRolePermissionsBoundary", _res("role", "-bounded")(a))],
        _bounded_admin_role,
        _delete_role_boundary,
        _role_boundary_kept,
    ),
    Path(
        "PutRolePermissionsBoundary",
        lambda a: [allow("iam:PutRolePermissionsBoundary", _res("role", "-bounded")(a))],
        _bounded_admin_role,
        _put_role_boundary,
        _role_boundary_kept,
    ),
    Path("chained-AssumeRole", _chain_needs, _chain, _chained_assume),
    Path("TagUser-for-ABAC-trust", lambda a: [allow("iam:TagUser", _res("user")(a))], _tag_gated_role, _tag_self, _untagged),
]
BOUNDARY_PATHS = {"DeleteUserPermissionsBoundary", "PutUserPermissionsBoundary"}


def _attacker(server: TesseraServer, path: Path, granted: bool) -> Attack:
    name = f"esc{next(_serial)}"
    iam = server.client("iam")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    attack = Attack(server, name, Credentials(key["AccessKeyId"], key["SecretAccessKey"]))
    path.setup(attack)
    assumable = attack.arn("role", attack.things["hop"]) if path.name == "chained-AssumeRole" else "*"
    statements: list[dict[str, Any]] = [allow("sts:GetCallerIdentity"), allow("sts:AssumeRole", assumable)]
    if granted:
        statements += path.needs(attack)
    if path.name in BOUNDARY_PATHS and not granted:
        # the boundary allows the boundary actions, but the identity policy must too; take them away
        statements.append(
            {"Effect": "Deny", "Action": ["iam:DeleteUserPermissionsBoundary", "iam:PutUserPermissionsBoundary"], "Resource": "*"}
        )
    iam.put_user_policy(UserName=name, PolicyName="base", PolicyDocument=policy(*statements))
    if path.name == "chained-AssumeRole":
        hop_policy = [allow("sts:AssumeRole", attack.arn("role", attack.things["top"]))] if granted else [allow("sts:GetCallerIdentity")]
        iam.put_role_policy(RoleName=attack.things["hop"], PolicyName="hop", PolicyDocument=policy(*hop_policy))
    return attack


def _prize(attack: Attack, creds: Credentials) -> tuple[str, str]:
    iam = attack.server.client("iam", creds)
    group = f"{attack.name}-prize"
    return error_code_of(iam.list_users), error_code_of(iam.create_group, GroupName=group)


@pytest.fixture(scope="module")
def server(target: TesseraServer) -> TesseraServer:
    return target


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_escalation_path_is_closed_without_its_permission(server: TesseraServer, path: Path) -> None:
    attack = _attacker(server, path, granted=False)
    assert _prize(attack, attack.creds)[0] in DENIED
    with pytest.raises(ClientError) as caught:
        path.exploit(attack)
    response = getattr(caught.value, "response", {})
    assert response.get("Error", {}).get("Code") in DENIED, caught.value
    assert path.unchanged(attack), "a refused step left a change behind"
    assert all(code in DENIED for code in _prize(attack, attack.creds))
    if path.name == "chained-AssumeRole":  # nor does the attacker reach the top role directly
        assert error_code_of(attack.sts().assume_role, RoleArn=attack.arn("role", attack.things["top"]), RoleSessionName="direct") in DENIED


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_escalation_path_works_with_its_permission_and_grants_what_it_says(server: TesseraServer, path: Path) -> None:
    """The control: with the permission the path works as in AWS, so the denial above is the
    permission's doing and not a broken path."""
    attack = _attacker(server, path, granted=True)
    assert _prize(attack, attack.creds)[0] in DENIED
    creds = path.exploit(attack)
    assert _prize(attack, creds) == ("", "")


def test_a_federation_token_or_session_policy_never_widens_permissions(server: TesseraServer) -> None:
    """Passing an allow-all policy to GetFederationToken or AssumeRole yields at most the
    intersection with the caller's (or role's) own permissions."""
    name = f"esc{next(_serial)}"
    limited = server.make_user(name, policy(allow(["sts:GetFederationToken", "sts:AssumeRole", "iam:GetUser"])))
    federated = Credentials.from_response(server.client("sts", limited).get_federation_token(Name="widen", Policy=ADMIN)["Credentials"])
    assert error_code_of(server.client("organizations", federated).list_roots) in DENIED
    iam = server.client("iam")
    trust = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{server.account_id}:user/{name}"}, "Action": "sts:AssumeRole"})
    iam.create_role(RoleName=f"{name}-narrow", AssumeRolePolicyDocument=trust)
    iam.put_role_policy(RoleName=f"{name}-narrow", PolicyName="narrow", PolicyDocument=policy(allow("iam:GetUser")))
    session = Credentials.from_response(
        server.client("sts", limited).assume_role(
            RoleArn=f"arn:aws:iam::{server.account_id}:role/{name}-narrow", RoleSessionName="widen", Policy=ADMIN
        )["Credentials"]
    )
    assert error_code_of(server.client("iam", session).list_users) in DENIED
    assert error_code_of(server.client("iam", session).get_user, UserName=name) == ""


def test_a_non_default_policy_version_grants_nothing(server: TesseraServer) -> None:
    attack = _attacker(server, PATHS[0], granted=True)
    attack.iam().create_policy_version(PolicyArn=attack.things["policy"], PolicyDocument=ADMIN, SetAsDefault=False)
    assert all(code in DENIED for code in _prize(attack, attack.creds))


def test_a_trust_naming_a_deleted_user_does_not_admit_a_new_user_of_that_name(server: TesseraServer) -> None:
    """AWS trusts the principal's unique id, so a user deleted and created again under the same
    name is not trusted (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html)."""
    name = f"esc{next(_serial)}"
    first = server.make_user(name, policy(allow("sts:AssumeRole")))
    iam = server.client("iam")
    trust = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{server.account_id}:user/{name}"}, "Action": "sts:AssumeRole"})
    iam.create_role(RoleName=f"{name}-trusting", AssumeRolePolicyDocument=trust)
    arn = f"arn:aws:iam::{server.account_id}:role/{name}-trusting"
    assert error_code_of(server.client("sts", first).assume_role, RoleArn=arn, RoleSessionName="first") == ""
    iam.delete_access_key(UserName=name, AccessKeyId=first.access_key_id)
    iam.delete_user_policy(UserName=name, PolicyName="inline")
    iam.delete_user(UserName=name)
    second = server.make_user(name, policy(allow("sts:AssumeRole")))
    assert error_code_of(server.client("sts", second).assume_role, RoleArn=arn, RoleSessionName="second") in DENIED

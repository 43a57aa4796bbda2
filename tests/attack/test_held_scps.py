"""Service control policies from the attacker's side: every principal of a member account — its
root user included, and the sessions and federated users it makes — is capped by the SCPs on
the path from the organization root to the account; nothing in the member account (IAM
policies, Organizations calls) lifts them; the management account is never capped.

https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html
("SCPs affect all users and roles in attached accounts, including the root user";
"SCPs don't affect users or roles in the management account").
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from attackkit import RawClient, allow, deny, error_code_of, policy
from serverproc import Credentials, TesseraServer

SCP = "SERVICE_CONTROL_POLICY"
FULL_ACCESS = "p-FullAWSAccess"
DENIED = {"AccessDenied", "AccessDeniedException"}


@dataclass
class World:
    server: TesseraServer
    org_id: str
    root_id: str

    @property
    def org(self) -> object:
        return self.server.client("organizations")


def _member_with_root_key(server: TesseraServer, name: str) -> tuple[str, Credentials]:
    """A member account made by the operator's ``tessera accounts create --root-key``."""
    command = [sys.executable, "-m", "tessera", "accounts", "create", name, "--root-key", "--json", "--data-dir", server.data_dir]
    done = subprocess.run(command, env=server.environment(), capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    creds = Credentials(created["access_key_id"], created["secret_access_key"])
    raw = RawClient(server)
    for _ in range(200):  # the server sees the new account at its next poll of the store
        if raw.send(raw.signed("sts", {"Action": "GetCallerIdentity"}, creds=creds)).status == 200:
            break
        time.sleep(0.05)
    return str(created["account_id"]), creds


@pytest.fixture(scope="module")
def world(target: TesseraServer) -> Iterator[World]:
    org = target.client("organizations")
    org_id = org.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    root_id = org.list_roots()["Roots"][0]["Id"]
    return World(target, org_id, root_id)


def _scp(world: World, name: str, *statements: dict[str, object]) -> str:
    org = world.server.client("organizations")
    created = org.create_policy(Name=name, Description="", Type=SCP, Content=policy(*statements))
    return str(created["Policy"]["PolicySummary"]["Id"])


def _ou(world: World, name: str) -> str:
    org = world.server.client("organizations")
    return str(org.create_organizational_unit(ParentId=world.root_id, Name=name)["OrganizationalUnit"]["Id"])


def test_a_member_root_user_is_capped_by_an_scp(world: World) -> None:
    server = world.server
    account, member_root = _member_with_root_key(server, "scp-root-capped")
    iam = server.client("iam", member_root)
    assert error_code_of(iam.create_user, UserName="before-scp") == ""
    org = server.client("organizations")
    scp = _scp(world, "deny-user-writes", deny(["iam:CreateUser", "iam:DeleteUser", "iam:AttachUserPolicy"]))
    org.attach_policy(PolicyId=scp, TargetId=account)
    assert error_code_of(iam.create_user, UserName="after-scp") in DENIED
    assert error_code_of(iam.delete_user, UserName="before-scp") in DENIED
    assert error_code_of(iam.list_users) == ""
    # nothing the member root can do in IAM lifts it: an admin user it makes is capped too
    iam.put_user_policy(UserName="before-scp", PolicyName="all", PolicyDocument=policy(allow("*")))
    key = iam.create_access_key(UserName="before-scp")["AccessKey"]
    admin = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    assert error_code_of(server.client("iam", admin).create_user, UserName="by-admin") in DENIED
    # nor through a federated user of the member root
    federated = Credentials.from_response(
        server.client("sts", member_root).get_federation_token(Name="scp-fed", Policy=policy(allow("*")))["Credentials"]
    )
    assert error_code_of(server.client("organizations", federated).detach_policy, PolicyId=scp, TargetId=account) in DENIED
    # the member cannot detach, rewrite, delete the SCP or move itself away from it
    member_org = server.client("organizations", member_root)
    assert error_code_of(member_org.detach_policy, PolicyId=scp, TargetId=account) in DENIED
    assert error_code_of(member_org.update_policy, PolicyId=scp, Content=policy(allow("*"))) in DENIED
    assert error_code_of(member_org.delete_policy, PolicyId=scp) in DENIED
    ou = _ou(world, "scp-escape")
    assert error_code_of(member_org.move_account, AccountId=account, SourceParentId=world.root_id, DestinationParentId=ou) in DENIED
    assert error_code_of(member_org.attach_policy, PolicyId=FULL_ACCESS, TargetId=account) in DENIED
    assert error_code_of(iam.create_user, UserName="still-capped") in DENIED
    # lifted by the management account, at once
    org.detach_policy(PolicyId=scp, TargetId=account)
    assert error_code_of(iam.create_user, UserName="after-detach") == ""


def test_an_scp_on_an_ou_caps_the_member_root_and_its_role_sessions(world: World) -> None:
    server = world.server
    account, member_root = _member_with_root_key(server, "scp-in-ou")
    org = server.client("organizations")
    ou = _ou(world, "scp-capped-ou")
    org.move_account(AccountId=account, SourceParentId=world.root_id, DestinationParentId=ou)
    iam = server.client("iam", member_root)
    iam.create_role(
        RoleName="member-admin",
        AssumeRolePolicyDocument=policy(
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}
        ),
    )
    iam.put_role_policy(RoleName="member-admin", PolicyName="all", PolicyDocument=policy(allow("*")))
    iam.create_user(UserName="member-user")
    iam.put_user_policy(UserName="member-user", PolicyName="all", PolicyDocument=policy(allow("*")))
    key = iam.create_access_key(UserName="member-user")["AccessKey"]
    member_user = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    # (a root user may not assume roles, as in AWS; a member user does)
    session = Credentials.from_response(
        server.client("sts", member_user).assume_role(RoleArn=f"arn:aws:iam::{account}:role/member-admin", RoleSessionName="capped")[
            "Credentials"
        ]
    )
    scp = _scp(world, "ou-deny-roles", deny(["iam:CreateRole", "iam:ListRoles"]))
    org.attach_policy(PolicyId=scp, TargetId=ou)
    for creds in (member_root, member_user, session):
        assert error_code_of(server.client("iam", creds).list_roles) in DENIED
        assert error_code_of(server.client("iam", creds).list_users) == ""
    # an allow-list SCP without the action also caps: FullAWSAccess off the account
    allow_list = _scp(world, "ou-only-reads", allow(["iam:List*", "iam:Get*", "sts:*"]))
    org.attach_policy(PolicyId=allow_list, TargetId=account)
    org.detach_policy(PolicyId=FULL_ACCESS, TargetId=account)
    assert error_code_of(iam.create_user, UserName="not-on-the-list") in DENIED
    assert error_code_of(iam.list_users) == ""
    org.attach_policy(PolicyId=FULL_ACCESS, TargetId=account)
    assert error_code_of(iam.create_user, UserName="back-on-the-list") == ""


def test_a_deny_all_scp_on_the_root_never_caps_the_management_account(world: World, raw: RawClient) -> None:
    server = world.server
    account, member_root = _member_with_root_key(server, "scp-deny-all")
    admin = server.make_user("mgmt-admin", policy(allow("*")))
    org = server.client("organizations")
    scp = _scp(world, "deny-everything", deny("*"))
    org.attach_policy(PolicyId=scp, TargetId=world.root_id)
    try:
        for creds in (server.root, admin):
            assert error_code_of(server.client("iam", creds).list_users) == ""
            assert error_code_of(server.client("organizations", creds).list_accounts) == ""
        assert error_code_of(server.client("iam", member_root).list_users) in DENIED
        # GetCallerIdentity needs no permission, so it answers even under a deny-all SCP, as in AWS
        reply = raw.send(raw.signed("sts", {"Action": "GetCallerIdentity"}, creds=member_root))
        assert reply.status == 200 and f"<Account>{account}</Account>" in reply.text
        assert error_code_of(server.client("sts", member_root).get_federation_token, Name="none") in DENIED
    finally:
        org.detach_policy(PolicyId=scp, TargetId=world.root_id)
    assert error_code_of(server.client("iam", member_root).list_users) == ""

"""Cross-account access in an organization, end to end: OrganizationAccountAccessRole,
AssumeRole allowed and denied on each side, ExternalId, chaining across three
accounts, aws:PrincipalOrgPaths trust, and SCPs (deny in an OU, FullAWSAccess removed,
the management account exempt)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from policies import allow, deny, trust
from serverproc import Credentials, TesseraServer

SCP = "SERVICE_CONTROL_POLICY"
ACCESS_ROLE = "OrganizationAccountAccessRole"
_serial = itertools.count()


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def denied(call: Callable[..., Any], **params: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**params)
    code = str(caught.value.response["Error"]["Code"])
    assert code in ("AccessDenied", "AccessDeniedException")
    return str(caught.value.response["Error"]["Message"])


class Organization:
    """The management account's view: its root org client and an administrator user."""

    def __init__(self, server: TesseraServer) -> None:
        self.server = server
        self.org = server.client("organizations")
        self.org_id = self.org.create_organization()["Organization"]["Id"]
        self.root_id = self.org.list_roots()["Roots"][0]["Id"]
        self.admin = server.make_user("org-admin", document(allow("*")))

    def unique(self, prefix: str) -> str:
        return f"{prefix}{next(_serial)}"

    def new_account(self, prefix: str, parent: str | None = None) -> str:
        name = self.unique(prefix)
        request = self.org.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]
        status = self.org.describe_create_account_status(CreateAccountRequestId=request["Id"])["CreateAccountStatus"]
        account = str(status["AccountId"])
        if parent is not None:
            self.org.move_account(AccountId=account, SourceParentId=self.root_id, DestinationParentId=parent)
        return account

    def new_ou(self, prefix: str) -> str:
        return str(self.org.create_organizational_unit(ParentId=self.root_id, Name=self.unique(prefix))["OrganizationalUnit"]["Id"])

    def new_scp(self, *statements: dict[str, Any]) -> str:
        policy = self.org.create_policy(Name=self.unique("scp"), Description="", Type=SCP, Content=document(*statements))
        return str(policy["Policy"]["PolicySummary"]["Id"])

    def assume(self, creds: Credentials, role_arn: str, **params: Any) -> Credentials:
        sts = self.server.client("sts", creds)
        response = sts.assume_role(RoleArn=role_arn, RoleSessionName=params.pop("name", "e2e"), **params)
        return Credentials.from_response(response["Credentials"])

    def admin_in(self, account: str) -> Credentials:
        """A session of the new account's access role, reached from the management account."""
        return self.assume(self.admin, f"arn:aws:iam::{account}:role/{ACCESS_ROLE}")

    def client(self, service: str, creds: Credentials) -> Any:
        return self.server.client(service, creds)


@pytest.fixture(scope="module")
def world(server: TesseraServer) -> Organization:
    return Organization(server)


# -- reaching accounts -----------------------------------------------------------------------
def test_management_admin_reaches_a_new_account_through_the_access_role(world: Organization) -> None:
    account = world.new_account("reach")
    session = world.admin_in(account)
    identity = world.client("sts", session).get_caller_identity()
    assert identity["Account"] == account
    assert identity["Arn"] == f"arn:aws:sts::{account}:assumed-role/{ACCESS_ROLE}/e2e"
    iam = world.client("iam", session)
    iam.create_user(UserName="built-by-admin")
    assert [u["UserName"] for u in iam.list_users()["Users"]] == ["built-by-admin"]


def test_management_root_user_cannot_assume_the_access_role(world: Organization) -> None:
    account = world.new_account("rootless")
    denied(world.client("sts", world.server.root).assume_role, RoleArn=f"arn:aws:iam::{account}:role/{ACCESS_ROLE}", RoleSessionName="root")


def test_caller_needs_its_own_permission_because_the_trust_names_the_account(world: Organization) -> None:
    account = world.new_account("callerside")
    reader = world.server.make_user(world.unique("reader"), document(allow("iam:ListUsers")))
    denied(world.client("sts", reader).assume_role, RoleArn=f"arn:aws:iam::{account}:role/{ACCESS_ROLE}", RoleSessionName="probe")


def test_trust_side_must_admit_the_caller_and_chaining_crosses_three_accounts(world: Organization) -> None:
    target, hop = world.new_account("target"), world.new_account("hop")
    world.client("iam", world.admin_in(target)).create_role(
        RoleName="FromHop", AssumeRolePolicyDocument=document(trust({"AWS": f"arn:aws:iam::{hop}:root"}))
    )
    role = f"arn:aws:iam::{target}:role/FromHop"
    denied(world.client("sts", world.admin).assume_role, RoleArn=role, RoleSessionName="direct")
    chained = world.assume(world.admin_in(hop), role, name="chained")
    assert world.client("sts", chained).get_caller_identity()["Account"] == target


def test_external_id_guards_third_party_access(world: Organization) -> None:
    owner, vendor = world.new_account("owner"), world.new_account("vendor")
    condition = {"StringEquals": {"sts:ExternalId": "ext-7731"}}
    world.client("iam", world.admin_in(owner)).create_role(
        RoleName="Vendor", AssumeRolePolicyDocument=document(trust({"AWS": vendor}, Condition=condition))
    )
    role, vendor_session = f"arn:aws:iam::{owner}:role/Vendor", world.admin_in(vendor)
    sts = world.client("sts", vendor_session)
    denied(sts.assume_role, RoleArn=role, RoleSessionName="none")
    denied(sts.assume_role, RoleArn=role, RoleSessionName="wrong", ExternalId="ext-0000")
    world.assume(vendor_session, role, ExternalId="ext-7731")


def test_principal_org_paths_trust_admits_only_the_named_ou(world: Organization) -> None:
    trusted_ou = world.new_ou("trusted")
    inside, outside, owner = world.new_account("inside", trusted_ou), world.new_account("outside"), world.new_account("pp")
    condition = {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": f"{world.org_id}/{world.root_id}/{trusted_ou}/*"}}
    world.client("iam", world.admin_in(owner)).create_role(
        RoleName="OuOnly", AssumeRolePolicyDocument=document(trust({"AWS": "*"}, Condition=condition))
    )
    role = f"arn:aws:iam::{owner}:role/OuOnly"
    world.assume(world.admin_in(inside), role)
    denied(world.client("sts", world.admin_in(outside)).assume_role, RoleArn=role, RoleSessionName="probe")


def test_principal_org_id_trust_admits_accounts_of_the_organization(world: Organization) -> None:
    owner, member = world.new_account("orgid"), world.new_account("orgmember")
    for role, org_id in (("OrgOnly", world.org_id), ("OtherOrg", "o-aaaaaaaaaa")):
        world.client("iam", world.admin_in(owner)).create_role(
            RoleName=role,
            AssumeRolePolicyDocument=document(trust({"AWS": "*"}, Condition={"StringEquals": {"aws:PrincipalOrgID": org_id}})),
        )
    world.assume(world.admin_in(member), f"arn:aws:iam::{owner}:role/OrgOnly")
    denied(world.client("sts", world.admin_in(member)).assume_role, RoleArn=f"arn:aws:iam::{owner}:role/OtherOrg", RoleSessionName="probe")


# -- service control policies ---------------------------------------------------------------
def test_scp_deny_in_an_ou_blocks_member_roles_and_lifts_at_once(world: Organization) -> None:
    ou = world.new_ou("restricted")
    member = world.new_account("restricted", ou)
    scp = world.new_scp(deny("iam:CreateUser"))
    world.org.attach_policy(PolicyId=scp, TargetId=ou)
    iam = world.client("iam", world.admin_in(member))
    message = denied(iam.create_user, UserName="blocked")
    assert "service control policy" in message
    iam.list_users()  # only the denied action is blocked
    world.org.detach_policy(PolicyId=scp, TargetId=ou)
    iam.create_user(UserName="allowed-now")  # the same session, immediately


def test_scps_never_limit_the_management_account(world: Organization) -> None:
    scp = world.new_scp(deny("iam:*"))
    world.org.attach_policy(PolicyId=scp, TargetId=world.server.account_id)
    try:
        world.client("iam", world.admin).create_user(UserName=world.unique("mgmt-user"))
    finally:
        world.org.detach_policy(PolicyId=scp, TargetId=world.server.account_id)


def test_removing_full_aws_access_without_an_allowing_replacement_denies_everything(world: Organization) -> None:
    member = world.new_account("locked")
    session = world.admin_in(member)
    world.org.attach_policy(PolicyId=world.new_scp(deny("s3:*")), TargetId=member)
    world.org.detach_policy(PolicyId="p-FullAWSAccess", TargetId=member)
    iam = world.client("iam", session)
    denied(iam.list_users)
    denied(iam.create_user, UserName="nobody")
    assert world.client("sts", session).get_caller_identity()["Account"] == member  # never authorized


def test_an_allow_list_scp_limits_a_member_to_what_it_lists(world: Organization) -> None:
    member = world.new_account("allowlist")
    session = world.admin_in(member)
    world.org.attach_policy(PolicyId=world.new_scp(allow("iam:List*")), TargetId=member)
    world.org.detach_policy(PolicyId="p-FullAWSAccess", TargetId=member)
    iam = world.client("iam", session)
    iam.list_roles()
    denied(iam.create_user, UserName="nope")


def test_member_scp_also_limits_its_outbound_assume_role(world: Organization) -> None:
    source, target = world.new_account("scpsrc"), world.new_account("scptgt")
    world.org.attach_policy(PolicyId=world.new_scp(deny("sts:AssumeRole")), TargetId=source)
    denied(
        world.client("sts", world.admin_in(source)).assume_role,
        RoleArn=f"arn:aws:iam::{target}:role/{ACCESS_ROLE}",
        RoleSessionName="probe",
    )


def test_federated_user_of_the_root_user_has_the_passed_policy_and_nothing_more(world: Organization) -> None:
    """GetFederationToken by root: root's permissions (all) intersected with the session
    policy; without one, nothing (AWS: no session policy, no permissions)."""
    sts = world.server.client("sts")
    passed = document(allow(["organizations:DescribeOrganization", "iam:ListUsers", "sts:GetSessionToken"]))
    scoped = sts.get_federation_token(Name="org-reader", Policy=passed)
    fed = Credentials.from_response(scoped["Credentials"])
    org = world.server.client("organizations", fed)
    assert org.describe_organization()["Organization"]["Id"] == world.org_id
    denied(org.list_accounts)
    # a federated user calls no IAM API and no STS API but GetCallerIdentity, whatever it is allowed
    denied(world.server.client("iam", fed).list_users)
    denied(world.server.client("sts", fed).get_session_token)
    assert world.server.client("sts", fed).get_caller_identity()["Arn"].endswith(":federated-user/org-reader")
    bare = Credentials.from_response(sts.get_federation_token(Name="no-policy")["Credentials"])
    denied(world.server.client("organizations", bare).describe_organization)


def test_simulating_a_member_principal_reports_what_its_scps_allow(world: Organization) -> None:
    ou = world.new_ou("simulated")
    member = world.new_account("simulated", ou)
    world.org.attach_policy(PolicyId=world.new_scp(deny("s3:DeleteObject", "arn:aws:s3:::kept/*")), TargetId=ou)
    iam = world.client("iam", world.admin_in(member))
    iam.create_user(UserName="sim")
    iam.put_user_policy(UserName="sim", PolicyName="all", PolicyDocument=document(allow("s3:*")))
    arn = f"arn:aws:iam::{member}:user/sim"
    resources = ["arn:aws:s3:::free/a", "arn:aws:s3:::kept/a"]
    results = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["s3:GetObject", "s3:DeleteObject"], ResourceArns=resources)
    get, delete = results["EvaluationResults"]
    assert get["EvalDecision"] == "allowed" and get["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": True}
    assert delete["EvalDecision"] == "explicitDeny" and delete["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": False}
    assert [r["EvalResourceDecision"] for r in delete["ResourceSpecificResults"]] == ["allowed", "explicitDeny"]
    # the management account's principals are never limited by SCPs: no Organizations detail
    root_iam = world.server.client("iam")
    user = world.unique("mgmt-sim")
    root_iam.create_user(UserName=user)
    mine = root_iam.simulate_principal_policy(
        PolicySourceArn=f"arn:aws:iam::{world.server.account_id}:user/{user}", ActionNames=["s3:GetObject"]
    )
    assert "OrganizationsDecisionDetail" not in mine["EvaluationResults"][0]

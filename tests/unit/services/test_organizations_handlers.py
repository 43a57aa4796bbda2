"""Organizations handlers against a real runtime (SQLite store, view, policy engine),
called as the server calls them; and ``OrgState`` as authorization reads it."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tessera.arn import root_arn
from tessera.auth.caller import Caller
from tessera.clock import FixedClock
from tessera.errors import AccessDenied, OrganizationsError, TesseraError
from tessera.server.bootstrap import open_runtime
from tessera.services import organizations  # noqa: F401  (registers the handlers)
from tessera.services.organizations.model import FULL_AWS_ACCESS_ID
from tessera.services.organizations.provision import create_account_as_admin
from tessera.services.request import OperationContext, RequestInfo, lookup
from tessera.services.runtime import Runtime

MGMT = "111111111111"
T0 = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
ENV = {
    "TESSERA_ACCOUNT_ID": MGMT,
    "TESSERA_ROOT_ACCESS_KEY_ID": "AKIAROOTROOTROOT0001",
    "TESSERA_ROOT_SECRET_ACCESS_KEY": "r" * 40,
    "TESSERA_MASTER_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
}
SCP = "SERVICE_CONTROL_POLICY"


def doc(effect: str, action: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": effect, "Action": action, "Resource": "*"}]})


def root_of(account: str) -> Caller:
    return Caller(kind="root", account=account, arn=root_arn(account), user_id=account, name="", access_key_id="AKIAX")


class Org:
    """A runtime plus a way to call Organizations operations as some account's root."""

    def __init__(self, data_dir: Path) -> None:
        self.runtime: Runtime = open_runtime(str(data_dir), env=ENV, clock=FixedClock(T0), out=io.StringIO())

    def call(self, op: str, caller: Caller | None = None, **params: Any) -> dict[str, Any]:
        info = RequestInfo("req", T0, "127.0.0.1", "pytest", "us-east-1")
        ctx = OperationContext(self.runtime, caller or root_of(MGMT), info, operation=op)
        spec = lookup("organizations", op)
        assert spec is not None
        return spec.handler(ctx, params)

    def error(self, op: str, caller: Caller | None = None, **params: Any) -> TesseraError:
        with pytest.raises(TesseraError) as caught:
            self.call(op, caller, **params)
        return caught.value

    def create_account(self, name: str) -> str:
        status = self.call("CreateAccount", Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]
        done = self.call("DescribeCreateAccountStatus", CreateAccountRequestId=status["Id"])["CreateAccountStatus"]
        return str(done["AccountId"])

    @property
    def root_id(self) -> str:
        return str(self.call("ListRoots")["Roots"][0]["Id"])

    def create_ou(self, name: str, parent: str | None = None) -> str:
        ou = self.call("CreateOrganizationalUnit", ParentId=parent or self.root_id, Name=name)
        return str(ou["OrganizationalUnit"]["Id"])

    def create_scp(self, name: str, content: str) -> str:
        policy = self.call("CreatePolicy", Name=name, Description="", Type=SCP, Content=content)
        return str(policy["Policy"]["PolicySummary"]["Id"])


@pytest.fixture
def org(tmp_path: Path) -> Org:
    world = Org(tmp_path)
    world.call("CreateOrganization")
    return world


def code_of(error: TesseraError) -> tuple[str, str | None]:
    return error.json_code or error.code, getattr(error, "reason", None)


# -- the organization -----------------------------------------------------------------------
def test_new_organization_has_scps_enabled_and_full_aws_access_on_the_root(org: Org) -> None:
    root = org.call("ListRoots")["Roots"][0]
    assert root["PolicyTypes"] == [{"Type": SCP, "Status": "ENABLED"}]
    policies = org.call("ListPoliciesForTarget", TargetId=root["Id"], Filter=SCP)["Policies"]
    assert [(p["Id"], p["AwsManaged"]) for p in policies] == [(FULL_AWS_ACCESS_ID, True)]


def test_consolidated_billing_organization_has_no_policy_types(tmp_path: Path) -> None:
    world = Org(tmp_path)
    created = world.call("CreateOrganization", FeatureSet="CONSOLIDATED_BILLING")["Organization"]
    assert created["AvailablePolicyTypes"] == []
    error = world.error("EnablePolicyType", RootId=world.root_id, PolicyType=SCP)
    assert code_of(error) == ("PolicyTypeNotAvailableForOrganizationException", None)


def test_an_account_can_be_in_only_one_organization(org: Org) -> None:
    assert code_of(org.error("CreateOrganization")) == ("AlreadyInOrganizationException", None)


def test_account_without_organization_is_told_it_is_not_in_use(tmp_path: Path) -> None:
    assert code_of(Org(tmp_path).error("DescribeOrganization")) == ("AWSOrganizationsNotInUseException", None)


def test_members_may_describe_the_organization_but_not_manage_it(org: Org) -> None:
    member = root_of(org.create_account("dev"))
    assert org.call("DescribeOrganization", member)["Organization"]["MasterAccountId"] == MGMT
    assert isinstance(org.error("ListAccounts", member), AccessDenied)
    assert isinstance(org.error("CreateAccount", member, Email="x@example.com", AccountName="x"), AccessDenied)


def test_organization_with_members_cannot_be_deleted(org: Org) -> None:
    org.create_account("dev")
    assert code_of(org.error("DeleteOrganization")) == ("OrganizationNotEmptyException", None)


def test_deleting_an_empty_organization_frees_the_management_account(tmp_path: Path) -> None:
    world = Org(tmp_path)
    world.call("CreateOrganization")
    world.create_ou("unused")
    world.call("DeleteOrganization")
    assert code_of(world.error("DescribeOrganization")) == ("AWSOrganizationsNotInUseException", None)
    assert world.runtime.org.principal_org(MGMT) is None
    world.call("CreateOrganization")


# -- accounts -------------------------------------------------------------------------------
def test_create_account_answers_in_progress_then_succeeds_with_the_access_role(org: Org) -> None:
    submitted = org.call("CreateAccount", Email="dev@example.com", AccountName="dev")["CreateAccountStatus"]
    assert submitted["State"] == "IN_PROGRESS" and "AccountId" not in submitted
    done = org.call("DescribeCreateAccountStatus", CreateAccountRequestId=submitted["Id"])["CreateAccountStatus"]
    assert done["State"] == "SUCCEEDED"
    account = org.runtime.view.account(done["AccountId"])
    assert account is not None
    role = account.role("OrganizationAccountAccessRole")
    assert role is not None and role["attached"] == ["arn:aws:iam::aws:policy/AdministratorAccess"]
    assert json.loads(role["trust_policy"])["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{MGMT}:root"}
    described = org.call("DescribeAccount", AccountId=done["AccountId"])["Account"]
    assert (described["JoinedMethod"], described["State"]) == ("CREATED", "ACTIVE")


def test_create_account_with_a_custom_role_name(org: Org) -> None:
    status = org.call("CreateAccount", Email="ops@example.com", AccountName="ops", RoleName="Admin")
    done = org.call("DescribeCreateAccountStatus", CreateAccountRequestId=status["CreateAccountStatus"]["Id"])
    account = org.runtime.view.account(done["CreateAccountStatus"]["AccountId"])
    assert account is not None and account.role("Admin") is not None and account.role("OrganizationAccountAccessRole") is None


def test_duplicate_email_fails_the_request_asynchronously(org: Org) -> None:
    org.create_account("dev")
    submitted = org.call("CreateAccount", Email="DEV@example.com", AccountName="again")["CreateAccountStatus"]
    assert submitted["State"] == "IN_PROGRESS"
    done = org.call("DescribeCreateAccountStatus", CreateAccountRequestId=submitted["Id"])["CreateAccountStatus"]
    assert (done["State"], done["FailureReason"]) == ("FAILED", "EMAIL_ALREADY_EXISTS")
    failed = org.call("ListCreateAccountStatus", States=["FAILED"])["CreateAccountStatuses"]
    assert [s["Id"] for s in failed] == [submitted["Id"]]


def test_unknown_create_account_request_is_not_found(org: Org) -> None:
    error = org.error("DescribeCreateAccountStatus", CreateAccountRequestId="car-00000000000000000000000000000000")
    assert code_of(error) == ("CreateAccountStatusNotFoundException", None)


def test_list_accounts_pages_with_max_results(org: Org) -> None:
    members = [org.create_account(name) for name in ("a1", "a2", "a3")]
    first = org.call("ListAccounts", MaxResults=2)
    second = org.call("ListAccounts", MaxResults=2, NextToken=first["NextToken"])
    assert len(first["Accounts"]) == 2 and len(second["Accounts"]) == 2 and "NextToken" not in second
    # every account exactly once across the pages; the order among accounts that joined at
    # the same instant (this clock is fixed) follows their random ids
    listed = [account["Id"] for account in first["Accounts"] + second["Accounts"]]
    assert sorted(listed) == sorted([MGMT, *members])


# -- the tree -------------------------------------------------------------------------------
def test_moving_an_account_into_a_nested_ou_changes_its_parents_and_paths(org: Org) -> None:
    account, root = org.create_account("dev"), org.root_id
    work = org.create_ou("work")
    prod = org.create_ou("prod", work)
    org.call("MoveAccount", AccountId=account, SourceParentId=root, DestinationParentId=prod)
    assert org.call("ListParents", ChildId=account)["Parents"] == [{"Id": prod, "Type": "ORGANIZATIONAL_UNIT"}]
    assert org.call("ListChildren", ParentId=prod, ChildType="ACCOUNT")["Children"] == [{"Id": account, "Type": "ACCOUNT"}]
    org_id = org.call("DescribeOrganization")["Organization"]["Id"]
    assert org.call("DescribeAccount", AccountId=account)["Account"]["Paths"] == [f"{org_id}/{root}/{work}/{prod}/{account}/"]
    assert org.runtime.org.principal_org(account) == (org_id, (f"{org_id}/{root}/{work}/{prod}/",))


@pytest.mark.parametrize(
    ("source", "destination", "code"),
    [
        ("root", "root", "DuplicateAccountException"),
        ("ou", "ou2", "AccountNotFoundException"),
        ("ou-zzzz-00000000", "ou", "SourceParentNotFoundException"),
        ("root", "ou-zzzz-00000000", "DestinationParentNotFoundException"),
    ],
    ids=["already-there", "not-in-source", "unknown-source", "unknown-destination"],
)
def test_move_account_errors(org: Org, source: str, destination: str, code: str) -> None:
    account = org.create_account("dev")
    named = {"root": org.root_id, "ou": org.create_ou("ou"), "ou2": org.create_ou("ou2")}
    error = org.error(
        "MoveAccount", AccountId=account, SourceParentId=named.get(source, source), DestinationParentId=named.get(destination, destination)
    )
    assert code_of(error) == (code, None)


def test_ou_names_are_unique_among_siblings(org: Org) -> None:
    org.create_ou("prod")
    assert code_of(org.error("CreateOrganizationalUnit", ParentId=org.root_id, Name="prod")) == (
        "DuplicateOrganizationalUnitException",
        None,
    )


def test_ous_nest_at_most_five_deep(org: Org) -> None:
    parent = org.root_id
    for depth in range(5):
        parent = org.create_ou(f"level{depth}", parent)
    error = org.error("CreateOrganizationalUnit", ParentId=parent, Name="too-deep")
    assert code_of(error) == ("ConstraintViolationException", "OU_DEPTH_LIMIT_EXCEEDED")


def test_only_empty_ous_can_be_deleted(org: Org) -> None:
    outer = org.create_ou("outer")
    inner = org.create_ou("inner", outer)
    assert code_of(org.error("DeleteOrganizationalUnit", OrganizationalUnitId=outer)) == ("OrganizationalUnitNotEmptyException", None)
    org.call("DeleteOrganizationalUnit", OrganizationalUnitId=inner)
    org.call("DeleteOrganizationalUnit", OrganizationalUnitId=outer)
    assert org.call("ListOrganizationalUnitsForParent", ParentId=org.root_id)["OrganizationalUnits"] == []


def test_renaming_an_ou(org: Org) -> None:
    ou = org.create_ou("old")
    renamed = org.call("UpdateOrganizationalUnit", OrganizationalUnitId=ou, Name="new")["OrganizationalUnit"]
    assert renamed["Name"] == "new"
    assert org.call("DescribeOrganizationalUnit", OrganizationalUnitId=ou)["OrganizationalUnit"]["Name"] == "new"


# -- policies -------------------------------------------------------------------------------
def test_new_ous_and_accounts_get_full_aws_access(org: Org) -> None:
    ou, account = org.create_ou("prod"), org.create_account("dev")
    targets = {t["TargetId"] for t in org.call("ListTargetsForPolicy", PolicyId=FULL_AWS_ACCESS_ID)["Targets"]}
    assert {org.root_id, ou, account, MGMT} <= targets


@pytest.mark.parametrize(
    ("content", "code", "reason"),
    [
        ("{not json", "MalformedPolicyDocumentException", None),
        (
            json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}),
            "MalformedPolicyDocumentException",
            None,
        ),
        (doc("Deny", "s3:" + "x" * 5200), "ConstraintViolationException", "POLICY_CONTENT_LIMIT_EXCEEDED"),
    ],
    ids=["not-json", "principal-in-scp", "too-large"],
)
def test_invalid_scp_content_is_refused(org: Org, content: str, code: str, reason: str | None) -> None:
    error = org.error("CreatePolicy", Name="bad", Description="", Type=SCP, Content=content)
    assert code_of(error) == (code, reason)


def test_policy_names_are_unique(org: Org) -> None:
    org.create_scp("deny-iam", doc("Deny", "iam:*"))
    assert code_of(org.error("CreatePolicy", Name="deny-iam", Description="", Type=SCP, Content=doc("Deny", "s3:*"))) == (
        "DuplicatePolicyException",
        None,
    )
    assert code_of(org.error("CreatePolicy", Name="FullAWSAccess", Description="", Type=SCP, Content=doc("Deny", "s3:*"))) == (
        "DuplicatePolicyException",
        None,
    )


def test_the_last_scp_of_a_target_cannot_be_detached(org: Org) -> None:
    account = org.create_account("dev")
    error = org.error("DetachPolicy", PolicyId=FULL_AWS_ACCESS_ID, TargetId=account)
    assert code_of(error) == ("ConstraintViolationException", "MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED")


def test_at_most_five_scps_per_target(org: Org) -> None:
    ou = org.create_ou("prod")
    for n in range(4):
        org.call("AttachPolicy", PolicyId=org.create_scp(f"p{n}", doc("Deny", f"svc{n}:*")), TargetId=ou)
    sixth = org.create_scp("p5", doc("Deny", "svc5:*"))
    error = org.error("AttachPolicy", PolicyId=sixth, TargetId=ou)
    assert code_of(error) == ("ConstraintViolationException", "MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED")


def test_attachment_errors(org: Org) -> None:
    ou, policy = org.create_ou("prod"), org.create_scp("deny", doc("Deny", "iam:*"))
    org.call("AttachPolicy", PolicyId=policy, TargetId=ou)
    assert code_of(org.error("AttachPolicy", PolicyId=policy, TargetId=ou)) == ("DuplicatePolicyAttachmentException", None)
    assert code_of(org.error("AttachPolicy", PolicyId=policy, TargetId="999999999999")) == ("TargetNotFoundException", None)
    assert code_of(org.error("AttachPolicy", PolicyId="p-missing1", TargetId=ou)) == ("PolicyNotFoundException", None)
    assert code_of(org.error("DetachPolicy", PolicyId=policy, TargetId=org.root_id)) == ("PolicyNotAttachedException", None)
    assert code_of(org.error("DeletePolicy", PolicyId=policy)) == ("PolicyInUseException", None)
    org.call("DetachPolicy", PolicyId=policy, TargetId=ou)
    org.call("DeletePolicy", PolicyId=policy)
    assert code_of(org.error("DescribePolicy", PolicyId=policy)) == ("PolicyNotFoundException", None)


@pytest.mark.parametrize("op", ["UpdatePolicy", "DeletePolicy"])
def test_full_aws_access_is_immutable(org: Org, op: str) -> None:
    assert code_of(org.error(op, PolicyId=FULL_AWS_ACCESS_ID)) == ("InvalidInputException", "IMMUTABLE_POLICY")


def test_update_policy_changes_what_scps_enforce(org: Org) -> None:
    account = org.create_account("dev")
    policy = org.create_scp("limit", doc("Deny", "iam:CreateUser"))
    org.call("AttachPolicy", PolicyId=policy, TargetId=account)
    org.call("UpdatePolicy", PolicyId=policy, Content=doc("Deny", "iam:DeleteUser"), Description="now delete")
    levels = org.runtime.org.scps_for(account)
    assert levels is not None
    texts = [p.text for p in levels[-1]]  # the account's level: FullAWSAccess and this policy, in id order
    assert doc("Deny", "iam:DeleteUser") in texts and doc("Deny", "iam:CreateUser") not in texts
    assert org.call("DescribePolicy", PolicyId=policy)["Policy"]["PolicySummary"]["Description"] == "now delete"


def test_disabling_scps_detaches_them_and_lifts_them(org: Org) -> None:
    account = org.create_account("dev")
    assert org.runtime.org.scps_for(account) is not None
    root = org.call("DisablePolicyType", RootId=org.root_id, PolicyType=SCP)["Root"]
    assert root["PolicyTypes"] == []
    assert org.runtime.org.scps_for(account) is None
    assert code_of(org.error("AttachPolicy", PolicyId=FULL_AWS_ACCESS_ID, TargetId=account)) == ("PolicyTypeNotEnabledException", None)
    org.call("EnablePolicyType", RootId=org.root_id, PolicyType=SCP)
    levels = org.runtime.org.scps_for(account)
    assert levels is not None and [[p.id for p in level] for level in levels] == [[FULL_AWS_ACCESS_ID]] * 2


def test_scps_never_apply_to_the_management_account(org: Org) -> None:
    assert org.runtime.org.scps_for(MGMT) is None
    assert org.runtime.org.principal_org(MGMT) is not None


# -- tags -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["root", "ou", "account", "policy"])
def test_tags_on_every_taggable_resource(org: Org, kind: str) -> None:
    resource = {
        "root": lambda: org.root_id,
        "ou": lambda: org.create_ou("prod"),
        "account": lambda: org.create_account("dev"),
        "policy": lambda: org.create_scp("deny", doc("Deny", "iam:*")),
    }[kind]()
    org.call("TagResource", ResourceId=resource, Tags=[{"Key": "team", "Value": "a"}, {"Key": "env", "Value": "x"}])
    org.call("TagResource", ResourceId=resource, Tags=[{"Key": "team", "Value": "b"}])
    org.call("UntagResource", ResourceId=resource, TagKeys=["env"])
    assert org.call("ListTagsForResource", ResourceId=resource)["Tags"] == [{"Key": "team", "Value": "b"}]


def test_tags_with_reserved_prefix_or_duplicate_keys_are_refused(org: Org) -> None:
    error = org.error("TagResource", ResourceId=org.root_id, Tags=[{"Key": "aws:x", "Value": "1"}])
    assert code_of(error) == ("InvalidInputException", "INVALID_SYSTEM_TAGS_PARAMETER")
    error = org.error("TagResource", ResourceId=org.root_id, Tags=[{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}])
    assert code_of(error) == ("InvalidInputException", "DUPLICATE_TAG_KEY")


def test_tagging_an_unknown_resource_is_target_not_found(org: Org) -> None:
    assert code_of(org.error("ListTagsForResource", ResourceId="ou-zzzz-00000000")) == ("TargetNotFoundException", None)


# -- the admin path (tessera accounts create) -----------------------------------------------
def test_admin_creates_the_organization_when_there_is_none(tmp_path: Path) -> None:
    world = Org(tmp_path)
    created = create_account_as_admin(world.runtime, name="dev")
    assert created.organization_id is not None and created.secret_access_key is None
    assert created.role_arn == f"arn:aws:iam::{created.account_id}:role/OrganizationAccountAccessRole"
    accounts = {a["Id"] for a in world.call("ListAccounts")["Accounts"]}
    assert accounts == {MGMT, created.account_id}


def test_admin_standalone_account_has_a_root_key_and_no_organization(tmp_path: Path) -> None:
    world = Org(tmp_path)
    created = create_account_as_admin(world.runtime, name="solo", standalone=True)
    assert created.organization_id is None and created.access_key_id and created.secret_access_key
    account = world.runtime.view.account(created.account_id)
    assert account is not None and created.access_key_id in account.access_keys
    assert world.runtime.org.principal_org(created.account_id) is None


def test_admin_refuses_an_email_in_use(org: Org) -> None:
    org.create_account("dev")
    with pytest.raises(OrganizationsError):
        create_account_as_admin(org.runtime, name="dev2", email="dev@example.com")

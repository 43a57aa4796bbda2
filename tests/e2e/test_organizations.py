"""Organizations over the wire: boto3 against a real server (SQLite and PostgreSQL) —
the organization, accounts, OUs, SCP management, tags, pagination and AWS's errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from serverproc import TesseraServer

SCP = "SERVICE_CONTROL_POLICY"
DENY_S3 = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]})


def error_code(call: Any, **params: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**params)
    return str(caught.value.response["Error"]["Code"])


@pytest.fixture(scope="module")
def organization(server: TesseraServer) -> dict[str, Any]:
    return dict(server.client("organizations").create_organization(FeatureSet="ALL")["Organization"])


@pytest.fixture
def root_id(org: Any, organization: dict[str, Any]) -> str:
    return str(org.list_roots()["Roots"][0]["Id"])


def create_account(org: Any, name: str) -> str:
    request = org.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]
    assert request["State"] == "IN_PROGRESS"
    status = org.describe_create_account_status(CreateAccountRequestId=request["Id"])["CreateAccountStatus"]
    assert status["State"] == "SUCCEEDED"
    return str(status["AccountId"])


def test_describe_organization_reports_the_management_account(org: Any, server: TesseraServer, organization: dict[str, Any]) -> None:
    described = org.describe_organization()["Organization"]
    assert described["Id"] == organization["Id"] and described["MasterAccountId"] == server.account_id
    assert described["Arn"] == f"arn:aws:organizations::{server.account_id}:organization/{organization['Id']}"
    assert described["FeatureSet"] == "ALL"


def test_second_create_organization_is_already_in_organization(org: Any, organization: dict[str, Any]) -> None:
    assert error_code(org.create_organization) == "AlreadyInOrganizationException"


def test_root_has_scps_enabled(org: Any, root_id: str) -> None:
    root = org.list_roots()["Roots"][0]
    assert root["Name"] == "Root" and root["PolicyTypes"] == [{"Type": SCP, "Status": "ENABLED"}]


def test_created_account_is_listed_under_the_root_with_full_aws_access(org: Any, root_id: str) -> None:
    account = create_account(org, "listed")
    under_root = {a["Id"] for a in org.list_accounts_for_parent(ParentId=root_id)["Accounts"]}
    assert account in under_root
    policies = org.list_policies_for_target(TargetId=account, Filter=SCP)["Policies"]
    assert [p["Name"] for p in policies] == ["FullAWSAccess"]
    described = org.describe_account(AccountId=account)["Account"]
    assert described["Email"] == "listed@example.com" and described["JoinedMethod"] == "CREATED"


def test_list_accounts_paginates_with_the_boto3_paginator(org: Any, organization: dict[str, Any]) -> None:
    for n in range(4):  # with the management account, at least five: three pages of two
        create_account(org, f"paged{n}")
    pages = list(org.get_paginator("list_accounts").paginate(PaginationConfig={"PageSize": 2}))
    ids = [a["Id"] for p in pages for a in p["Accounts"]]
    assert len(ids) >= 5 and len(ids) == len(set(ids))
    assert len(pages) == (len(ids) + 1) // 2  # full pages of two, whatever other tests added
    assert {a["Id"] for a in org.list_accounts()["Accounts"]} <= set(ids)


def test_ou_tree_and_move_account(org: Any, root_id: str) -> None:
    account = create_account(org, "mover")
    parent = org.create_organizational_unit(ParentId=root_id, Name="workloads")["OrganizationalUnit"]
    child = org.create_organizational_unit(ParentId=parent["Id"], Name="prod")["OrganizationalUnit"]
    assert child["Path"] == f"{parent['Path']}{child['Id']}/"
    org.move_account(AccountId=account, SourceParentId=root_id, DestinationParentId=child["Id"])
    assert org.list_parents(ChildId=account)["Parents"] == [{"Id": child["Id"], "Type": "ORGANIZATIONAL_UNIT"}]
    children = org.list_children(ParentId=parent["Id"], ChildType="ORGANIZATIONAL_UNIT")["Children"]
    assert children == [{"Id": child["Id"], "Type": "ORGANIZATIONAL_UNIT"}]
    assert error_code(org.delete_organizational_unit, OrganizationalUnitId=child["Id"]) == "OrganizationalUnitNotEmptyException"


def test_scp_lifecycle_and_attachment_rules(org: Any, root_id: str) -> None:
    ou = org.create_organizational_unit(ParentId=root_id, Name="scp-lifecycle")["OrganizationalUnit"]["Id"]
    policy = org.create_policy(Name="deny-s3", Description="no S3", Type=SCP, Content=DENY_S3)["Policy"]
    policy_id = policy["PolicySummary"]["Id"]
    assert policy["PolicySummary"]["Arn"].endswith(f"/service_control_policy/{policy_id}")
    org.attach_policy(PolicyId=policy_id, TargetId=ou)
    targets = org.list_targets_for_policy(PolicyId=policy_id)["Targets"]
    assert [(t["TargetId"], t["Type"], t["Name"]) for t in targets] == [(ou, "ORGANIZATIONAL_UNIT", "scp-lifecycle")]
    assert error_code(org.attach_policy, PolicyId=policy_id, TargetId=ou) == "DuplicatePolicyAttachmentException"
    assert error_code(org.delete_policy, PolicyId=policy_id) == "PolicyInUseException"
    org.detach_policy(PolicyId="p-FullAWSAccess", TargetId=ou)  # allowed: deny-s3 remains
    assert error_code(org.detach_policy, PolicyId=policy_id, TargetId=ou) == "ConstraintViolationException"
    org.attach_policy(PolicyId="p-FullAWSAccess", TargetId=ou)
    org.detach_policy(PolicyId=policy_id, TargetId=ou)
    org.delete_policy(PolicyId=policy_id)
    assert error_code(org.describe_policy, PolicyId=policy_id) == "PolicyNotFoundException"


def test_constraint_violation_carries_its_reason(org: Any, root_id: str) -> None:
    with pytest.raises(ClientError) as caught:
        org.detach_policy(PolicyId="p-FullAWSAccess", TargetId=root_id)
    assert caught.value.response["Error"]["Code"] == "ConstraintViolationException"
    assert caught.value.response.get("Reason") == "MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED"


def test_malformed_scp_is_refused(org: Any, organization: dict[str, Any]) -> None:
    bad = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*"}]})
    assert error_code(org.create_policy, Name="bad", Description="", Type=SCP, Content=bad) == ("MalformedPolicyDocumentException")


def test_full_aws_access_is_aws_managed_and_immutable(org: Any, organization: dict[str, Any]) -> None:
    described = org.describe_policy(PolicyId="p-FullAWSAccess")["Policy"]
    assert described["PolicySummary"]["AwsManaged"] is True
    assert described["PolicySummary"]["Arn"] == "arn:aws:organizations::aws:policy/service_control_policy/p-FullAWSAccess"
    assert error_code(org.delete_policy, PolicyId="p-FullAWSAccess") == "InvalidInputException"


def test_tags_on_accounts(org: Any, organization: dict[str, Any]) -> None:
    account = create_account(org, "tagged")
    org.tag_resource(ResourceId=account, Tags=[{"Key": "team", "Value": "blue"}])
    assert org.list_tags_for_resource(ResourceId=account)["Tags"] == [{"Key": "team", "Value": "blue"}]
    org.untag_resource(ResourceId=account, TagKeys=["team"])
    assert org.list_tags_for_resource(ResourceId=account)["Tags"] == []


@pytest.mark.parametrize(
    ("operation", "params", "code"),
    [
        ("describe_account", {"AccountId": "999999999999"}, "AccountNotFoundException"),
        ("describe_organizational_unit", {"OrganizationalUnitId": "ou-zzzz-00000000"}, "OrganizationalUnitNotFoundException"),
        ("list_children", {"ParentId": "ou-zzzz-00000000", "ChildType": "ACCOUNT"}, "ParentNotFoundException"),
        ("list_parents", {"ChildId": "999999999999"}, "ChildNotFoundException"),
        ("describe_create_account_status", {"CreateAccountRequestId": "car-0000000000"}, "CreateAccountStatusNotFoundException"),
        ("list_accounts", {"NextToken": "bogus"}, "InvalidInputException"),
    ],
    ids=["account", "ou", "parent", "child", "create-request", "next-token"],
)
def test_not_found_errors_use_aws_types(org: Any, organization: dict[str, Any], operation: str, params: dict[str, Any], code: str) -> None:
    assert error_code(getattr(org, operation), **params) == code


def test_member_account_may_describe_but_not_manage(server: TesseraServer, org: Any, organization: dict[str, Any]) -> None:
    account = create_account(org, "member-view")
    admin = server.make_user(
        "org-member-probe", {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    )
    sts = server.client("sts", admin)
    role = f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole"
    creds = sts.assume_role(RoleArn=role, RoleSessionName="probe")["Credentials"]
    member = server.client("organizations", creds=type(admin).from_response(creds))
    assert member.describe_organization()["Organization"]["Id"] == organization["Id"]
    assert error_code(member.list_accounts) == "AccessDeniedException"


def test_iam_policy_governs_organizations_calls(server: TesseraServer, organization: dict[str, Any]) -> None:
    reader = server.make_user(
        "org-reader",
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["organizations:Describe*", "organizations:List*"], "Resource": "*"}],
        },
    )
    client = server.client("organizations", reader)
    assert client.list_accounts()["Accounts"]
    assert (
        error_code(client.create_organizational_unit, ParentId=client.list_roots()["Roots"][0]["Id"], Name="nope")
        == "AccessDeniedException"
    )

"""The console's Organizations page in a real browser: AWS's message outside an
organization or when not allowed, the tree of the root, OUs and accounts, the SCPs with
where they apply, and attaching and detaching an SCP; on SQLite and PostgreSQL.

The tests of this module share one server and run in order: the first sees the account
before it has an organization."""

from __future__ import annotations

import json
import uuid
from typing import Any

from consoleui import ADMIN, Console, console_user
from playwright.sync_api import expect
from serverproc import TesseraServer

DENY_USERS = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "iam:CreateUser", "Resource": "*"}]}


def _open(console: Console, server: TesseraServer, policy: str = ADMIN) -> Any:
    console.signed_in(console_user(server, policy))
    return console.goto("/organizations")


def test_an_account_outside_any_organization_sees_awss_message(console: Console, server: TesseraServer) -> None:
    page = _open(console, server)
    alert = page.get_by_role("alert")
    expect(alert).to_have_text("Your account is not a member of an organization.")
    assert "AWSOrganizationsNotInUseException" in page.inner_text("main")


def test_the_tree_and_the_scps_with_where_they_apply(console: Console, server: TesseraServer) -> None:
    org = server.client("organizations")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    unit = org.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"]
    inner = org.create_organizational_unit(ParentId=unit, Name="sandbox")["OrganizationalUnit"]["Id"]
    request = org.create_account(Email=f"dev-{uuid.uuid4().hex[:6]}@example.com", AccountName="dev")["CreateAccountStatus"]["Id"]
    account = org.describe_create_account_status(CreateAccountRequestId=request)["CreateAccountStatus"]["AccountId"]
    org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=unit)
    scp = org.create_policy(
        Name="no-new-users", Description="Denies iam:CreateUser", Type="SERVICE_CONTROL_POLICY", Content=json.dumps(DENY_USERS)
    )
    scp_id = scp["Policy"]["PolicySummary"]["Id"]
    org.attach_policy(PolicyId=scp_id, TargetId=unit)

    page = _open(console, server)
    expect(page.get_by_role("heading", name="Structure")).to_be_visible()
    tree = page.locator(".org-tree")
    # nested lists: root > workloads (OU) > sandbox (OU) and dev (account)
    children = tree.locator(f"li.org-node[data-id='{root}'] > ul > li.org-node")
    expect(children.first).to_contain_text("workloads")
    workloads = children.filter(has_text="workloads")
    assert unit in workloads.inner_text()
    below = workloads.locator(":scope > ul > li.org-node")
    expect(below).to_have_count(2)
    expect(below.nth(0)).to_contain_text(f"OU sandbox {inner}")
    expect(below.nth(1)).to_contain_text(f"Account dev {account}")
    # the SCPs attached to the OU itself: FullAWSAccess (attached on creation) and ours
    attached = page.get_by_role("list", name="SCPs attached to workloads")
    expect(attached.get_by_role("listitem")).to_have_text(["FullAWSAccess", "no-new-users"])
    # the SCP, its content and where it applies
    applies = page.get_by_role("table", name="Where no-new-users applies")
    expect(applies.locator("tbody tr")).to_have_count(1)
    assert "workloads" in applies.inner_text() and "OU" in applies.inner_text() and unit in applies.inner_text()
    article = page.get_by_role("article", name="no-new-users")
    article.get_by_text("Content of no-new-users").click()
    assert '"Action": "iam:CreateUser"' in article.locator("pre").inner_text()
    console.screenshot("organizations")

    # attach it to the account as well, then detach it from the OU
    page.get_by_label("Policy", exact=True).select_option(label="no-new-users")
    page.get_by_label("Target").select_option(value=account)
    page.get_by_role("button", name="Attach").click()
    page.wait_for_url("**done=attached")
    targets = {t["TargetId"] for t in org.list_targets_for_policy(PolicyId=scp_id)["Targets"]}
    assert targets == {unit, account}
    expect(page.get_by_role("table", name="Where no-new-users applies").locator("tbody tr")).to_have_count(2)
    page.get_by_label("Policy", exact=True).select_option(label="no-new-users")
    page.get_by_label("Target").select_option(value=unit)
    page.get_by_role("button", name="Detach").click()
    page.wait_for_url("**done=detached")
    assert {t["TargetId"] for t in org.list_targets_for_policy(PolicyId=scp_id)["Targets"]} == {account}
    # a refused change shows AWS's message: FullAWSAccess is the root's only SCP
    page.get_by_label("Policy", exact=True).select_option(label="FullAWSAccess")
    page.get_by_label("Target").select_option(value=root)
    page.get_by_role("button", name="Detach").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("fewer than the minimum number of policies of a certain type required")
    expect(alert).to_contain_text("ConstraintViolationException")
    assert "FullAWSAccess" in {p["Name"] for p in org.list_policies_for_target(TargetId=root, Filter="SERVICE_CONTROL_POLICY")["Policies"]}


def test_a_caller_not_allowed_sees_awss_message(console: Console, server: TesseraServer) -> None:
    page = _open(console, server, "arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    expect(page.get_by_role("alert")).to_contain_text("is not authorized to perform: organizations:DescribeOrganization")

"""The console's managed policy pages in a real browser: the list (customer and AWS
managed, paged, filtered by name), the create form and its validation errors, a policy's
versions with their diff, the default version, attachments and detaching; on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
import re
import uuid

from consoleui import ADMIN, Console, console_user
from playwright.sync_api import expect
from serverproc import TesseraServer

READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


def _document(*actions: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]})


def _signed_in(console: Console, server: TesseraServer, policy: str = ADMIN) -> str:
    name = console_user(server, policy)
    console.signed_in(name)
    return name


def test_create_a_policy_then_version_it_diff_and_set_the_default(console: Console, server: TesseraServer) -> None:
    _signed_in(console, server)
    policy_name = f"p-{uuid.uuid4().hex[:8]}"
    page = console.goto("/policies")
    page.get_by_role("link", name="Create policy").click()
    page.get_by_label("Policy name").fill(policy_name)
    page.get_by_label("Description").fill("Reads objects")
    page.get_by_label("Policy document (JSON)").fill(_document("s3:GetObject"))
    page.get_by_role("button", name="Create policy").click()
    page.wait_for_url(re.compile(r".*/console/policies/arn%3Aaws%3Aiam%3A%3A.*done=created"))
    expect(page.get_by_role("heading", name=policy_name, level=1)).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("The policy was created.")
    arn = f"arn:aws:iam::{server.account_id}:policy/{policy_name}"
    assert arn in page.inner_text("main") and "Reads objects" in page.inner_text("main")
    assert '"s3:GetObject"' in page.locator("pre").first.inner_text()

    # a second version, not the default: the diff shows the changed lines
    page.get_by_label("Policy document (JSON)").fill(_document("s3:GetObject", "s3:PutObject"))
    page.get_by_role("button", name="Create version").click()
    page.wait_for_url("**done=version")
    summary = page.locator("#diff-summary")
    expect(summary).to_have_text("From v1 to v2: 2 lines added, 1 line removed.")
    diff = page.get_by_role("table", name=re.compile("Changes from v1 to v2"))
    added = diff.locator("tr.diff-added")
    expect(added).to_have_count(2)
    assert "Added" in added.nth(1).inner_text() and '"s3:PutObject"' in added.nth(1).inner_text()
    removed = diff.locator("tr.diff-removed")
    assert "Removed" in removed.inner_text() and '"s3:GetObject"' in removed.inner_text()
    assert server.client("iam").get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v1"
    console.screenshot("policy-versions")

    # make v2 the default, then compare the other way round
    page.get_by_role("button", name="Set v2 as default").click()
    page.wait_for_url("**done=default")
    assert server.client("iam").get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v2"
    expect(page.get_by_role("heading", name="Permissions (version v2, the default)")).to_be_visible()
    page.get_by_label("From version").select_option("v2")
    page.get_by_label("To version").select_option("v1")
    page.get_by_role("button", name="Compare").click()
    expect(page.locator("#diff-summary")).to_have_text("From v2 to v1: 1 line added, 2 lines removed.")

    # attach through boto3: the page lists the user, and detaches it
    iam = server.client("iam")
    target = f"t-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=target)
    iam.attach_user_policy(UserName=target, PolicyArn=arn)
    group = f"g-{uuid.uuid4().hex[:8]}"
    iam.create_group(GroupName=group)
    iam.attach_group_policy(GroupName=group, PolicyArn=arn)
    page = console.goto(f"/policies/{arn}")
    attachments = page.get_by_role("table", name=re.compile("attached to"))
    expect(attachments.get_by_role("row")).to_have_count(3)
    assert target in attachments.inner_text() and group in attachments.inner_text()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Detach from user {target}").click()
    page.wait_for_url("**done=detached")
    assert iam.list_attached_user_policies(UserName=target)["AttachedPolicies"] == []
    expect(page.get_by_role("table", name=re.compile("attached to")).get_by_role("row")).to_have_count(2)


def test_an_invalid_policy_shows_its_validation_error(console: Console, server: TesseraServer) -> None:
    _signed_in(console, server)
    page = console.goto("/policies/new")
    page.get_by_label("Policy name").fill("broken")
    typed = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}]}'
    page.get_by_label("Policy document (JSON)").fill(typed)
    page.get_by_role("button", name="Create policy").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("MalformedPolicyDocument")
    expected = _aws_error(server, "broken", typed)
    expect(alert).to_contain_text(expected)
    # what was typed is kept
    assert page.get_by_label("Policy document (JSON)").input_value() == typed
    assert page.get_by_label("Policy name").input_value() == "broken"
    # and no policy was made
    assert not [p for p in server.client("iam").list_policies(Scope="Local")["Policies"] if p["PolicyName"] == "broken"]
    # a new version is checked the same way
    name = f"p-{uuid.uuid4().hex[:8]}"
    arn = server.client("iam").create_policy(PolicyName=name, PolicyDocument=_document("s3:GetObject"))["Policy"]["Arn"]
    page = console.goto(f"/policies/{arn}")
    page.get_by_label("Policy document (JSON)").fill("{not json")
    page.get_by_role("button", name="Create version").click()
    expect(page.get_by_role("alert")).to_contain_text("MalformedPolicyDocument")
    assert page.get_by_label("Policy document (JSON)").input_value() == "{not json"


def _aws_error(server: TesseraServer, name: str, document: str) -> str:
    """The message boto3 gets for the same CreatePolicy."""
    from botocore.exceptions import ClientError

    try:
        server.client("iam").create_policy(PolicyName=name, PolicyDocument=document)
    except ClientError as error:
        return str(error.response["Error"]["Message"])
    raise AssertionError("the policy was accepted")


def test_the_list_pages_aws_managed_policies_and_filters_by_name(console: Console, server: TesseraServer) -> None:
    _signed_in(console, server)
    page = console.goto("/policies?scope=AWS")
    total = len(server.client("iam").get_paginator("list_policies").paginate(Scope="AWS").build_full_result()["Policies"])
    assert total > 1000
    expect(page.locator("#policy-count")).to_have_text(f"Showing 1–100 of {total} AWS managed policies.")
    table = page.get_by_role("table", name=re.compile("Managed policies, page 1 of"))
    expect(table.locator("tbody tr")).to_have_count(100)
    page.get_by_role("link", name="Next page").click()
    expect(page.locator("#policy-count")).to_have_text(f"Showing 101–200 of {total} AWS managed policies.")
    page.get_by_label("Filter by name").fill("readonlyaccess")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**name=readonlyaccess**")
    rows = page.get_by_role("table", name=re.compile("Managed policies")).locator("tbody th")
    names = rows.all_inner_texts()
    # the policy of that very name first, then those that start with it, then the others
    assert names[0] == "ReadOnlyAccess" and all("readonlyaccess" in n.lower() for n in names)
    page.get_by_label("Filter by name").fill("IAM")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**name=IAM**")
    expect(page.get_by_role("link", name="IAMReadOnlyAccess", exact=True)).to_be_visible()
    console.screenshot("policies")
    page.get_by_label("Filter by name").fill("ReadOnlyAccess")
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("link", name="ReadOnlyAccess", exact=True).click()
    page.wait_for_url("**/console/policies/arn**")
    expect(page.get_by_role("heading", name="ReadOnlyAccess", level=1)).to_be_visible()
    assert READ_ONLY in page.inner_text("main") and "AWS managed" in page.inner_text("main")
    # an AWS managed policy cannot be changed: no forms for that
    expect(page.get_by_role("button", name="Create version")).to_have_count(0)
    # only the attached ones: the signed-in user's AdministratorAccess among them
    page = console.goto("/policies?scope=AWS")
    page.get_by_label("Only attached").check()
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**attached=1**")
    names = page.get_by_role("table", name=re.compile("Managed policies")).locator("tbody th").all_inner_texts()
    attached = server.client("iam").list_policies(Scope="AWS", OnlyAttached=True)["Policies"]
    assert "AdministratorAccess" in names and sorted(names) == sorted(p["PolicyName"] for p in attached)


def test_a_read_only_user_sees_and_cannot_change(console: Console, server: TesseraServer) -> None:
    name = f"p-{uuid.uuid4().hex[:8]}"
    arn = server.client("iam").create_policy(PolicyName=name, PolicyDocument=_document("s3:GetObject"))["Policy"]["Arn"]
    _signed_in(console, server, READ_ONLY)
    page = console.goto("/policies")
    page.get_by_role("link", name=name, exact=True).click()
    page.get_by_label("Policy document (JSON)").fill(_document("s3:*"))
    page.get_by_role("button", name="Create version").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("is not authorized to perform: iam:CreatePolicyVersion")
    assert len(server.client("iam").list_policy_versions(PolicyArn=arn)["Versions"]) == 1

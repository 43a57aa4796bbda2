"""The console's users and groups pages in a real browser, on SQLite and PostgreSQL:
every change is an API call of the signed-in user, checked with boto3 as root; a
read-only user sees everything and changes nothing.

Whatever follows a click that navigates is awaited with ``expect`` (which waits for the
new page) before boto3 looks at the result."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any

import pyotp
import pytest
from botocore.exceptions import ClientError
from consoleui import ADMIN, NARROW, PASSWORD, Console, console_user
from playwright.sync_api import Page, expect
from serverproc import Credentials, TesseraServer

ALLOW_GET_USER = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}]}
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _done(page: Page, message: str) -> None:
    """Wait for the page an edit redirected to, saying ``message``."""
    expect(page.get_by_role("status")).to_have_text(message)


def _cells(row: Any) -> list[str]:
    return [text.strip() for text in row.get_by_role("cell").all_inner_texts()]


@pytest.fixture(scope="module")
def admin(server: TesseraServer) -> str:
    return console_user(server, ADMIN, prefix="console")


@pytest.fixture(scope="module")
def reader(server: TesseraServer) -> str:
    return console_user(server, "arn:aws:iam::aws:policy/IAMReadOnlyAccess", prefix="console")


@pytest.fixture
def console(console: Console, admin: str) -> Console:
    """Signed in as ``admin``."""
    console.signed_in(admin)
    return console


def test_create_a_user_with_a_password_that_must_be_reset(console: Console, server: TesseraServer) -> None:
    name = _name("created")
    page = console.goto("/users")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Path").fill("/engineering/")
    page.get_by_label("Console password").fill(PASSWORD)
    page.get_by_label("Require a new password at the next sign-in").check()
    page.get_by_role("button", name="Create user").click()
    page.wait_for_url(f"**/console/users/{name}")
    _done(page, f"Created the user {name}.")
    expect(page.get_by_role("heading", name=f"User {name}")).to_be_visible()
    expect(page.get_by_role("region", name="Console access")).to_contain_text("a new password is required at the next sign-in")
    iam = server.client("iam")
    assert iam.get_user(UserName=name)["User"]["Path"] == "/engineering/"
    assert iam.get_login_profile(UserName=name)["LoginProfile"]["PasswordResetRequired"] is True
    # reloading the page repeats nothing and says nothing
    page.reload()
    expect(page.get_by_role("status")).to_have_count(0)
    # the list: path, created, password last used, MFA, access keys
    page = console.goto("/users")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=name, exact=True))
    cells = _cells(row)
    assert (cells[0], cells[2], cells[3], cells[4]) == ("/engineering/", "—", "No", "0")
    console.screenshot("users")
    # an existing name: AWS's EntityAlreadyExists message, what was typed kept
    page.get_by_label("User name").fill(name)
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("alert")).to_contain_text(re.compile(f"{name}.*already exists"))
    expect(page.get_by_label("User name")).to_have_value(name)


def test_an_access_key_secret_is_shown_once_and_its_use_is_reported(console: Console, server: TesseraServer) -> None:
    name = _name("keys")
    iam = server.client("iam")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="get-user", PolicyDocument=json.dumps(ALLOW_GET_USER))
    page = console.goto(f"/users/{name}")
    expect(page.get_by_role("region", name="Access keys")).to_contain_text("No access keys.")
    page.get_by_role("button", name="Create access key").click()
    new_key = page.get_by_role("region", name="New access key")
    key_id = new_key.locator("#new-key-id").inner_text()
    secret = new_key.locator("#new-key-secret").inner_text()
    assert key_id.startswith("AKIA") and len(secret) == 40
    # the secret shown is the key's: a client signs with it
    assert server.client("iam", Credentials(key_id, secret)).get_user()["User"]["UserName"] == name
    page = console.goto(f"/users/{name}")
    assert secret not in page.content()
    row = page.get_by_role("region", name="Access keys").get_by_role("row").filter(has_text=key_id)
    cells = _cells(row)
    assert cells[0] == "Active" and cells[2] != "Never" and cells[3:5] == ["iam", "us-east-1"]
    row.get_by_role("button", name=f"Deactivate {key_id}").click()
    _done(page, f"The access key {key_id} is now inactive.")
    assert iam.list_access_keys(UserName=name)["AccessKeyMetadata"][0]["Status"] == "Inactive"
    # a user with a key cannot be deleted: AWS's DeleteConflict message is shown
    page.once("dialog", lambda dialog: dialog.accept())  # "Delete this user?"
    page.get_by_role("button", name=f"Delete user {name}").click()
    expect(page.get_by_role("region", name="Delete user").get_by_role("alert")).to_contain_text("Cannot delete entity")
    assert iam.get_user(UserName=name)["User"]["UserName"] == name
    # without it and its policy, it can
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Delete {key_id}").click()
    _done(page, f"Deleted the access key {key_id}.")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete inline policy get-user").click()
    _done(page, "Deleted the inline policy get-user.")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Delete user {name}").click()
    page.wait_for_url("**/console/users")
    _done(page, f"Deleted the user {name}.")
    with pytest.raises(ClientError):
        iam.get_user(UserName=name)


def test_policies_boundary_groups_and_tags(console: Console, server: TesseraServer) -> None:
    name, group = _name("perms"), _name("group")
    iam = server.client("iam")
    iam.create_user(UserName=name)
    iam.create_group(GroupName=group)
    page = console.goto(f"/users/{name}")
    policies = page.get_by_role("region", name="Permissions policies")
    policies.get_by_label("Managed policy ARN to attach").fill(READ_ONLY)
    policies.get_by_role("button", name="Attach policy").click()
    _done(page, f"Attached {READ_ONLY}.")
    expect(policies.get_by_role("row", name="ReadOnlyAccess")).to_be_visible()
    assert [p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]] == [READ_ONLY]
    # a malformed inline policy: AWS's validation error, the text kept
    malformed = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow"}]}'
    policies.get_by_label("Inline policy name").fill("inline")
    policies.get_by_label("Policy document (JSON)").fill(malformed)
    policies.get_by_role("button", name="Save inline policy").click()
    with pytest.raises(ClientError) as malformed_error:
        iam.put_user_policy(UserName=name, PolicyName="inline", PolicyDocument=malformed)
    expect(policies.get_by_role("alert")).to_have_text(malformed_error.value.response["Error"]["Message"])
    expect(policies.get_by_label("Policy document (JSON)")).to_have_value(malformed)
    expect(policies.get_by_label("Inline policy name")).to_have_value("inline")
    assert iam.list_user_policies(UserName=name)["PolicyNames"] == []
    policies.get_by_label("Policy document (JSON)").fill(json.dumps(ALLOW_GET_USER))
    policies.get_by_role("button", name="Save inline policy").click()
    _done(page, "Saved the inline policy inline.")
    assert iam.list_user_policies(UserName=name)["PolicyNames"] == ["inline"]
    expect(policies.locator("pre")).to_contain_text('"iam:GetUser"')
    # the permissions boundary
    boundary = page.get_by_role("region", name="Permissions boundary")
    boundary.get_by_label("Managed policy ARN to use as the boundary").fill(READ_ONLY)
    boundary.get_by_role("button", name="Set permissions boundary").click()
    _done(page, f"The permissions boundary is now {READ_ONLY}.")
    assert iam.get_user(UserName=name)["User"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == READ_ONLY
    # a group
    groups = page.get_by_role("region", name="Groups")
    groups.get_by_label("Add to group").select_option(group)
    groups.get_by_role("button", name="Add to group").click()
    _done(page, f"Added {name} to {group}.")
    expect(groups.get_by_role("link", name=group)).to_be_visible()
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName=name)["Groups"]] == [group]
    # a tag
    tags = page.get_by_role("region", name="Tags")
    tags.get_by_label("Tag key").fill("team")
    tags.get_by_label("Tag value").fill("platform")
    tags.get_by_role("button", name="Add tag").click()
    _done(page, "Tagged with team.")
    assert iam.list_user_tags(UserName=name)["Tags"] == [{"Key": "team", "Value": "platform"}]
    console.screenshot("user")


def test_group_pages(console: Console, server: TesseraServer) -> None:
    group, member = _name("team"), _name("member")
    iam = server.client("iam")
    iam.create_user(UserName=member)
    page = console.goto("/groups")
    page.get_by_label("Group name").fill(group)
    page.get_by_role("button", name="Create group").click()
    page.wait_for_url(f"**/console/groups/{group}")
    _done(page, f"Created the group {group}.")
    members = page.get_by_role("region", name="Members")
    members.get_by_label("User to add").select_option(member)
    members.get_by_role("button", name="Add user").click()
    _done(page, f"Added {member} to {group}.")
    expect(members.get_by_role("link", name=member)).to_be_visible()
    assert [u["UserName"] for u in iam.get_group(GroupName=group)["Users"]] == [member]
    policies = page.get_by_role("region", name="Permissions policies")
    policies.get_by_label("Managed policy ARN to attach").fill(READ_ONLY)
    policies.get_by_role("button", name="Attach policy").click()
    _done(page, f"Attached {READ_ONLY}.")
    assert [p["PolicyName"] for p in iam.list_attached_group_policies(GroupName=group)["AttachedPolicies"]] == ["ReadOnlyAccess"]
    # a group with members cannot be deleted
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Delete group {group}").click()
    alert = page.get_by_role("region", name="Delete group").get_by_role("alert")
    expect(alert).to_have_text("Cannot delete entity, must remove users from group first.")
    page = console.goto("/groups")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=group, exact=True))
    assert _cells(row)[-1] == "1"
    console.screenshot("groups")
    # emptied, it can
    page = console.goto(f"/groups/{group}")
    page.get_by_role("button", name=f"Remove {member} from the group").click()
    _done(page, f"Removed {member} from {group}.")
    page.get_by_role("button", name="Detach ReadOnlyAccess").click()
    _done(page, f"Detached {READ_ONLY}.")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Delete group {group}").click()
    page.wait_for_url("**/console/groups")
    _done(page, f"Deleted the group {group}.")
    with pytest.raises(ClientError) as gone:
        iam.get_group(GroupName=group)
    assert gone.value.response["Error"]["Code"] == "NoSuchEntity"


def test_a_read_only_user_sees_and_cannot_change(browser: Any, server: TesseraServer, reader: str) -> None:
    iam = server.client("iam")
    target = _name("seen")
    iam.create_user(UserName=target)
    iam.create_access_key(UserName=target)
    iam.put_user_policy(UserName=target, PolicyName="inline", PolicyDocument=json.dumps(ALLOW_GET_USER))
    with Console.opened(browser, server) as console:
        console.signed_in(reader)
        page = console.goto("/users")
        row = page.get_by_role("row").filter(has=page.get_by_role("link", name=target, exact=True))
        assert _cells(row)[-2:] == ["No", "1"]  # its MFA and its access key, read
        assert "not shown" not in page.inner_text("main").lower()
        # refused: AWS's AccessDenied on the page, nothing created
        page.get_by_label("User name").fill("not-" + target)
        page.get_by_role("button", name="Create user").click()
        refused = f"is not authorized to perform: iam:CreateUser on resource: arn:aws:iam::{server.account_id}:user/not-{target}"
        expect(page.get_by_role("alert")).to_contain_text(refused)
        with pytest.raises(ClientError):
            iam.get_user(UserName="not-" + target)
        page = console.goto(f"/users/{target}")
        assert "not shown" not in page.inner_text("main").lower()
        policies = page.get_by_role("region", name="Permissions policies")
        expect(policies.locator("pre")).to_contain_text('"iam:GetUser"')
        policies.get_by_label("Managed policy ARN to attach").fill("arn:aws:iam::aws:policy/AdministratorAccess")
        policies.get_by_role("button", name="Attach policy").click()
        expect(policies.get_by_role("alert")).to_contain_text("is not authorized to perform: iam:AttachUserPolicy")
        assert iam.list_attached_user_policies(UserName=target)["AttachedPolicies"] == []


def test_the_users_pages_fit_a_narrow_screen(browser: Any, server: TesseraServer, admin: str) -> None:
    with Console.opened(browser, server, viewport=NARROW) as console:
        console.signed_in(admin)
        for path in ("/users", f"/users/{admin}", "/groups"):
            page = console.goto(path)
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path


def test_the_dashboard_links_to_the_users_pages(console: Console, admin: str) -> None:
    page = console.goto("/")
    warnings = page.get_by_role("region", name="Security warnings")
    expect(warnings).to_contain_text("have no MFA device")
    warnings.get_by_role("link", name=admin, exact=True).click()
    expect(page.get_by_role("heading", name=f"User {admin}")).to_be_visible()
    page = console.goto("/")
    page.get_by_role("region", name="IAM resources").get_by_role("link", name="Groups", exact=True).click()
    expect(page.get_by_role("heading", name="Groups", exact=True)).to_be_visible()


def test_forged_forms_get_aws_errors(console: Console, server: TesseraServer, admin: str) -> None:
    """Whatever a form carries, the answer is AWS's error on the page, never a failure."""
    page = console.goto(f"/users/{admin}")
    csrf = page.locator("input[name=csrf]").first.input_value()
    endpoint = f"{server.endpoint}/console/users/{admin}"
    forms = [
        {"action": "key-status", "access_key_id": "AKIA-not-a-key", "status": "Sideways"},
        {"action": "delete-key", "access_key_id": ""},
        {"action": "tag", "tag_key": "", "tag_value": "x" * 300},
        {"action": "attach", "policy_arn": "not an arn"},
        {"action": "put-inline", "policy_name": "", "policy_document": "{"},
        {"action": "set-boundary", "boundary_arn": "arn:aws:iam::aws:policy/NoSuchPolicy"},
        {"action": "add-group", "group_name": "no-such-group"},
        {"action": "save-login", "exists": "no", "password": ""},
    ]
    for form in forms:
        response = console.page.request.post(endpoint, form={"csrf": csrf, **form}, headers={"Origin": server.endpoint})
        assert 400 <= response.status < 500, (form, response.status)
        assert 'role="alert"' in response.text(), form
    unknown = console.page.request.post(endpoint, form={"csrf": csrf, "action": "explode"}, headers={"Origin": server.endpoint})
    assert unknown.status == 400


def test_a_users_mfa_device_is_shown(console: Console, server: TesseraServer) -> None:
    name = _name("mfa")
    iam = server.client("iam")
    iam.create_user(UserName=name)
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]
    totp = pyotp.TOTP(device["Base32StringSeed"].decode())
    now = dt.datetime.now(dt.UTC)
    first, second = totp.at(now - dt.timedelta(seconds=30)), totp.at(now)
    iam.enable_mfa_device(UserName=name, SerialNumber=device["SerialNumber"], AuthenticationCode1=first, AuthenticationCode2=second)
    page = console.goto("/users")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=name, exact=True))
    assert _cells(row)[3] == "Yes"
    page = console.goto(f"/users/{name}")
    expect(page.get_by_role("region", name="MFA devices")).to_contain_text(device["SerialNumber"])


def test_a_password_the_policy_refuses_leaves_the_user_without_console_access(console: Console, server: TesseraServer) -> None:
    iam = server.client("iam")
    iam.update_account_password_policy(MinimumPasswordLength=20)
    try:
        name = _name("weak")
        page = console.goto("/users")
        page.get_by_label("User name").fill(name)
        page.get_by_label("Console password").fill("Short-pass-1")
        page.get_by_role("button", name="Create user").click()
        alert = page.get_by_role("region", name="Console access").get_by_role("alert")
        expect(alert).to_contain_text("The user was created, but its console password was refused:")
        assert iam.get_user(UserName=name)["User"]["UserName"] == name
        with pytest.raises(ClientError) as none:
            iam.get_login_profile(UserName=name)
        assert none.value.response["Error"]["Code"] == "NoSuchEntity"
        # the page's forms are the user's (though the address is still the list's)
        access = page.get_by_role("region", name="Console access")
        access.get_by_label("Console password").fill("A-long-enough-password-42")
        access.get_by_role("button", name="Enable console access").click()
        page.wait_for_url(f"**/console/users/{name}")
        _done(page, "Saved the console password.")
        assert iam.get_login_profile(UserName=name)["LoginProfile"]["PasswordResetRequired"] is False
    finally:
        iam.delete_account_password_policy()

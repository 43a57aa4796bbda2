"""The console's users and groups pages in a real browser, on SQLite and PostgreSQL:
every change is an API call of the signed-in user, checked with boto3 as root; a
read-only user sees everything and changes nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from consoleui import NARROW, Console
from serverproc import Credentials, TesseraServer

PASSWORD = "Correct-Horse-9-battery"
ALLOW_GET_USER = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}]}


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _signed_in_user(server: TesseraServer, policy: str) -> str:
    name = _name("console")
    iam = server.client("iam")
    iam.create_user(UserName=name)
    iam.create_login_profile(UserName=name, Password=PASSWORD)
    iam.attach_user_policy(UserName=name, PolicyArn=policy)
    return name


@pytest.fixture(scope="module")
def admin(server: TesseraServer) -> str:
    return _signed_in_user(server, "arn:aws:iam::aws:policy/AdministratorAccess")


@pytest.fixture(scope="module")
def reader(server: TesseraServer) -> str:
    return _signed_in_user(server, "arn:aws:iam::aws:policy/IAMReadOnlyAccess")


@pytest.fixture
def console(browser: Any, server: TesseraServer, admin: str) -> Iterator[Console]:
    opened = Console.open(browser, server)
    opened.sign_in(admin, PASSWORD).wait_for_url("**/console/")
    yield opened
    opened.close()


def test_create_a_user_with_a_password_that_must_be_reset(console: Console, server: TesseraServer) -> None:
    name = _name("created")
    page = console.goto("/users")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Path").fill("/engineering/")
    page.get_by_label("Console password").fill(PASSWORD)
    page.get_by_label("Require a new password at the next sign-in").check()
    page.get_by_role("button", name="Create user").click()
    page.wait_for_url(f"**/console/users/{name}")
    assert page.get_by_role("heading", name=f"User {name}").is_visible()
    assert "a new password is required at the next sign-in" in page.get_by_role("region", name="Console access").inner_text()
    iam = server.client("iam")
    assert iam.get_user(UserName=name)["User"]["Path"] == "/engineering/"
    assert iam.get_login_profile(UserName=name)["LoginProfile"]["PasswordResetRequired"] is True
    # the list shows it, with its columns
    page = console.goto("/users")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=name, exact=True))
    cells = row.get_by_role("cell").all_inner_texts()  # path, created, password last used, MFA, keys
    assert (cells[0], cells[2], cells[3], cells[4]) == ("/engineering/", "—", "No", "0")
    console.screenshot("users")
    # an existing name: AWS's EntityAlreadyExists message, what was typed kept
    page.get_by_label("User name").fill(name)
    page.get_by_role("button", name="Create user").click()
    assert name in page.get_by_role("alert").inner_text() and "already exists" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("User name").input_value() == name


def test_an_access_key_secret_is_shown_once_and_its_use_is_reported(console: Console, server: TesseraServer) -> None:
    name = _name("keys")
    iam = server.client("iam")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="get-user", PolicyDocument=json.dumps(ALLOW_GET_USER))
    page = console.goto(f"/users/{name}")
    assert "No access keys." in page.get_by_role("region", name="Access keys").inner_text()
    page.get_by_role("button", name="Create access key").click()
    new_key = page.get_by_role("region", name="New access key")
    key_id = new_key.locator("#new-key-id").inner_text()
    secret = new_key.locator("#new-key-secret").inner_text()
    assert key_id.startswith("AKIA") and len(secret) == 40
    # the key works: the secret shown is the real one
    assert server.client("iam", Credentials(key_id, secret)).get_user()["User"]["UserName"] == name
    page = console.goto(f"/users/{name}")
    assert secret not in page.content()
    keys = page.get_by_role("region", name="Access keys")
    row = keys.get_by_role("row").filter(has_text=key_id)
    assert "iam" in row.get_by_role("cell").all_inner_texts() and "us-east-1" in row.get_by_role("cell").all_inner_texts()
    assert "Never" not in row.inner_text() and "Active" in row.inner_text()
    row.get_by_role("button", name=f"Deactivate {key_id}").click()
    assert f"The access key {key_id} is now inactive." in page.get_by_role("status").inner_text()
    assert iam.list_access_keys(UserName=name)["AccessKeyMetadata"][0]["Status"] == "Inactive"
    # a user with a key cannot be deleted: AWS's DeleteConflict message is shown
    page.once("dialog", lambda dialog: dialog.accept())  # the "Delete this user?" confirmation
    page.get_by_role("button", name=f"Delete user {name}").click()
    delete = page.get_by_role("region", name="Delete user")
    assert "Cannot delete entity" in delete.get_by_role("alert").inner_text()
    assert iam.get_user(UserName=name)["User"]["UserName"] == name


def test_policies_boundary_groups_and_tags(console: Console, server: TesseraServer) -> None:
    name, group = _name("perms"), _name("group")
    iam = server.client("iam")
    iam.create_user(UserName=name)
    iam.create_group(GroupName=group)
    page = console.goto(f"/users/{name}")
    policies = page.get_by_role("region", name="Permissions policies")
    policies.get_by_label("Managed policy ARN to attach").fill("arn:aws:iam::aws:policy/ReadOnlyAccess")
    policies.get_by_role("button", name="Attach policy").click()
    policies = page.get_by_role("region", name="Permissions policies")
    assert policies.get_by_role("row", name="ReadOnlyAccess").is_visible()
    attached = iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
    # a malformed inline policy: AWS's validation error, the text kept
    policies.get_by_label("Inline policy name").fill("broken")
    policies.get_by_label("Policy document (JSON)").fill('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow"}]}')
    policies.get_by_role("button", name="Save inline policy").click()
    policies = page.get_by_role("region", name="Permissions policies")
    assert policies.get_by_role("alert").inner_text().strip()
    assert policies.get_by_label("Policy document (JSON)").input_value().startswith('{"Version"')
    assert iam.list_user_policies(UserName=name)["PolicyNames"] == []
    policies.get_by_label("Policy document (JSON)").fill(json.dumps(ALLOW_GET_USER))
    policies.get_by_role("button", name="Save inline policy").click()
    assert "Saved the inline policy broken." in page.get_by_role("status").inner_text()
    assert iam.list_user_policies(UserName=name)["PolicyNames"] == ["broken"]
    assert '"iam:GetUser"' in page.get_by_role("region", name="Permissions policies").locator("pre").inner_text()
    # boundary
    boundary = page.get_by_role("region", name="Permissions boundary")
    boundary.get_by_label("Managed policy ARN to use as the boundary").fill("arn:aws:iam::aws:policy/ReadOnlyAccess")
    boundary.get_by_role("button", name="Set permissions boundary").click()
    user = iam.get_user(UserName=name)["User"]
    assert user["PermissionsBoundary"]["PermissionsBoundaryArn"] == "arn:aws:iam::aws:policy/ReadOnlyAccess"
    # group membership
    groups = page.get_by_role("region", name="Groups")
    groups.get_by_label("Add to group").select_option(group)
    groups.get_by_role("button", name="Add to group").click()
    assert page.get_by_role("region", name="Groups").get_by_role("link", name=group).is_visible()
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName=name)["Groups"]] == [group]
    # tags
    tags = page.get_by_role("region", name="Tags")
    tags.get_by_label("Tag key").fill("team")
    tags.get_by_label("Tag value").fill("platform")
    tags.get_by_role("button", name="Add tag").click()
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
    members = page.get_by_role("region", name="Members")
    members.get_by_label("User to add").select_option(member)
    members.get_by_role("button", name="Add user").click()
    assert page.get_by_role("region", name="Members").get_by_role("link", name=member).is_visible()
    assert [u["UserName"] for u in iam.get_group(GroupName=group)["Users"]] == [member]
    policies = page.get_by_role("region", name="Permissions policies")
    policies.get_by_label("Managed policy ARN to attach").fill("arn:aws:iam::aws:policy/ReadOnlyAccess")
    policies.get_by_role("button", name="Attach policy").click()
    assert [p["PolicyName"] for p in iam.list_attached_group_policies(GroupName=group)["AttachedPolicies"]] == ["ReadOnlyAccess"]
    # a group with members cannot be deleted
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Delete group {group}").click()
    assert "must remove users from group first" in page.get_by_role("region", name="Delete group").get_by_role("alert").inner_text()
    page = console.goto("/groups")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=group, exact=True))
    assert row.get_by_role("cell").all_inner_texts()[-1] == "1"
    console.screenshot("groups")
    # emptied, it can
    page = console.goto(f"/groups/{group}")
    page.get_by_role("button", name=f"Remove {member} from the group").click()
    page.get_by_role("button", name="Detach ReadOnlyAccess").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Delete group {group}").click()
    page.wait_for_url("**/console/groups")
    with pytest.raises(ClientError) as gone:
        iam.get_group(GroupName=group)
    assert gone.value.response["Error"]["Code"] == "NoSuchEntity"


def test_a_read_only_user_sees_and_cannot_change(browser: Any, server: TesseraServer, reader: str) -> None:
    iam = server.client("iam")
    target = _name("seen")
    iam.create_user(UserName=target)
    iam.create_access_key(UserName=target)
    iam.put_user_policy(UserName=target, PolicyName="inline", PolicyDocument=json.dumps(ALLOW_GET_USER))
    console = Console.open(browser, server)
    try:
        console.sign_in(reader, PASSWORD).wait_for_url("**/console/")
        page = console.goto("/users")
        row = page.get_by_role("row").filter(has=page.get_by_role("link", name=target, exact=True))
        assert row.get_by_role("cell").all_inner_texts()[-1] == "1"  # its access key, counted
        assert "not shown" not in page.inner_text("main").lower()
        # refused: AccessDenied on the page, nothing created
        page.get_by_label("User name").fill("not-" + target)
        page.get_by_role("button", name="Create user").click()
        assert "not authorized to perform: iam:CreateUser" in page.get_by_role("alert").inner_text()
        with pytest.raises(ClientError):
            iam.get_user(UserName="not-" + target)
        page = console.goto(f"/users/{target}")
        assert "not shown" not in page.inner_text("main").lower()
        assert '"iam:GetUser"' in page.get_by_role("region", name="Permissions policies").locator("pre").inner_text()
        policies = page.get_by_role("region", name="Permissions policies")
        policies.get_by_label("Managed policy ARN to attach").fill("arn:aws:iam::aws:policy/AdministratorAccess")
        policies.get_by_role("button", name="Attach policy").click()
        alert = page.get_by_role("region", name="Permissions policies").get_by_role("alert").inner_text()
        assert "not authorized to perform: iam:AttachUserPolicy" in alert
        assert iam.list_attached_user_policies(UserName=target)["AttachedPolicies"] == []
    finally:
        console.close()


def test_the_users_list_fits_a_narrow_screen(browser: Any, server: TesseraServer, admin: str) -> None:
    console = Console.open(browser, server, viewport=NARROW)
    try:
        console.sign_in(admin, PASSWORD).wait_for_url("**/console/")
        page = console.goto("/users")
        assert page.get_by_role("heading", name="Users", exact=True).is_visible()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    finally:
        console.close()

"""The console's roles pages in a real browser: create a role, edit its trust policy (a
syntax error pointed at its line, then fixed), who can assume it (checked against
AssumeRole itself), and revoking its sessions; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError
from consoleui import Console, console_user
from serverproc import Credentials, TesseraServer


def _uid() -> str:
    return uuid.uuid4().hex[:8]


def _keys(server: TesseraServer, user: str) -> Credentials:
    key = server.client("iam").create_access_key(UserName=user)["AccessKey"]
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"])


def _trust(*principals: str) -> str:
    statement = {"Effect": "Allow", "Principal": {"AWS": list(principals)}, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]}, indent=2)


def _allow(action: str, resource: str = "*") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}]})


@pytest.fixture
def console(console: Console, server: TesseraServer) -> Console:
    """Signed in as an administrator."""
    console.signed_in(console_user(server, prefix="admin"))
    console.page.on("dialog", lambda dialog: dialog.accept())  # the destructive forms' confirmation
    return console


def test_create_a_role_then_fix_a_syntax_error_in_its_trust_policy(console: Console, server: TesseraServer) -> None:
    name = f"app-{_uid()}"
    page = console.goto("/roles")
    # the trust policy starts as the same-account template
    template = json.loads(page.get_by_label("Trust policy").input_value())
    assert template["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{server.account_id}:root"}
    page.get_by_label("Role name").fill(name)
    page.get_by_label("Description").fill("The application's role")
    page.get_by_label("Maximum session duration (seconds, 3600 to 43200)").fill("7200")
    page.get_by_label("Managed policy to attach (ARN, optional)").fill("arn:aws:iam::aws:policy/ReadOnlyAccess")
    page.get_by_role("button", name="Create role").click()
    page.wait_for_url(f"**/console/roles/{name}")
    assert page.get_by_role("heading", name=f"Role {name}").is_visible()
    assert "7200 seconds" in page.inner_text("main") and "ReadOnlyAccess" in page.inner_text("main")
    role = server.client("iam").get_role(RoleName=name)["Role"]
    assert role["MaxSessionDuration"] == 7200 and role["Description"] == "The application's role"
    console.screenshot("role")

    page = console.goto("/roles")
    row = page.get_by_role("row", name=name)
    assert "The application's role" in row.inner_text() and "Never" in row.inner_text()
    console.screenshot("roles")
    # the same name again: AWS's refusal above the form, what was typed kept
    page.get_by_label("Role name").fill(name)
    page.get_by_label("Description").fill("A second one")
    page.get_by_role("button", name="Create role").click()
    assert f"Role with name {name} already exists." in page.locator("#create-error").inner_text()
    assert page.get_by_label("Role name").input_value() == name and page.get_by_label("Description").input_value() == "A second one"

    # a comma missing at the end of line 6: the API refuses, the page points at the line
    page = console.goto(f"/roles/{name}")
    broken = "\n".join(
        [
            "{",
            '  "Version": "2012-10-17",',
            '  "Statement": [',
            "    {",
            '      "Effect": "Allow",',
            f'      "Principal": {{"AWS": "arn:aws:iam::{server.account_id}:root"}}',
            '      "Action": "sts:AssumeRole"',
            "    }",
            "  ]",
            "}",
        ]
    )
    page.get_by_label("Trust policy document").fill(broken)
    page.get_by_role("button", name="Update trust policy").click()
    alert = page.locator("#trust-error")
    assert alert.get_attribute("role") == "alert" and "Syntax errors in policy" in alert.inner_text()
    marked = page.locator("li.line-error")
    assert marked.count() == 1 and marked.get_attribute("id") == "trust-line-7"
    assert marked.get_attribute("aria-describedby") == "trust-error"
    assert '"Action": "sts:AssumeRole"' in marked.inner_text()
    # what was typed is kept, and described by the message
    editor = page.get_by_label("Trust policy document")
    assert editor.input_value() == broken and "trust-error" in (editor.get_attribute("aria-describedby") or "")
    console.screenshot("role-trust-error")
    assert server.client("iam").get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"] == template

    fixed = broken.replace('root"}', 'root"},')
    editor.fill(fixed)
    page.get_by_role("button", name="Update trust policy").click()
    page.wait_for_url(f"**/console/roles/{name}?done=trust")
    assert page.get_by_role("status").inner_text() == "Trust policy updated."
    assert page.locator("li.line-error").count() == 0
    stored = server.client("iam").get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
    assert stored == json.loads(fixed)

    # the role cannot be deleted while a policy is attached: AWS's DeleteConflict shown
    page.get_by_role("button", name="Delete role").click()
    assert "must detach all policies first" in page.locator("#delete-error").inner_text().lower()
    page.get_by_role("button", name="Detach ReadOnlyAccess").click()
    page.wait_for_url("**?done=detached")
    page.get_by_role("button", name="Delete role").click()
    page.wait_for_url("**/console/roles?done=deleted")
    assert page.get_by_role("status").inner_text() == "Role deleted."
    assert page.get_by_role("row", name=name).count() == 0


def test_who_can_assume_the_role_is_what_assume_role_does(console: Console, server: TesseraServer) -> None:
    iam = server.client("iam")
    uid = _uid()
    path = f"/t{uid}/"
    account = server.account_id

    def arn(kind: str, name: str) -> str:
        return f"arn:aws:iam::{account}:{kind}{path}{name}"

    for user in ("named", "delegated", "plain"):
        iam.create_user(UserName=f"{user}-{uid}", Path=path)
    iam.put_user_policy(UserName=f"delegated-{uid}", PolicyName="assume", PolicyDocument=_allow("sts:AssumeRole"))
    # roles: one named by the trust policy (no policy of its own), one not named but allowed by its own policy;
    # both trust the operator, so that the test can hold a session of each
    operator = iam.create_user(UserName=f"operator-{uid}")["User"]["Arn"]
    for role in ("hop", "stranger"):
        iam.create_role(RoleName=f"{role}-{uid}", Path=path, AssumeRolePolicyDocument=_trust(operator))
    iam.put_role_policy(RoleName=f"stranger-{uid}", PolicyName="assume", PolicyDocument=_allow("sts:AssumeRole"))
    target = f"target-{uid}"
    trust = _trust(arn("user", f"named-{uid}"), arn("role", f"hop-{uid}"), f"arn:aws:iam::{account}:root", "arn:aws:iam::444455556666:root")
    target_arn = iam.create_role(RoleName=target, Path=path, AssumeRolePolicyDocument=trust)["Role"]["Arn"]

    page = console.goto(f"/roles/{target}")
    rows = page.locator("#assumers tbody tr")
    outcomes = {}
    for i in range(rows.count()):
        row = rows.nth(i)
        outcomes[row.locator("th").inner_text()] = row.get_attribute("data-outcome")
    mine = {principal: outcome for principal, outcome in outcomes.items() if path in principal}
    assert mine == {
        arn("user", f"named-{uid}"): "allowed",  # named directly: no policy of its own needed
        arn("user", f"delegated-{uid}"): "allowed",  # the account is named: its own policy allows
        arn("user", f"plain-{uid}"): "denied",
        arn("role", f"hop-{uid}"): "allowed",  # the role is named
        arn("role", f"stranger-{uid}"): "allowed",  # not named, but the account is: its own policy allows
        target_arn: "denied",
    }
    assert "Any principal of account 444455556666 that its own policies allow." in page.locator("#outside-principals").inner_text()

    # AssumeRole agrees: every principal listed as able can, the others cannot
    def assume(creds: Credentials) -> str:
        try:
            server.client("sts", creds).assume_role(RoleArn=target_arn, RoleSessionName="check")
        except ClientError as error:
            return str(error.response["Error"]["Code"])
        return "allowed"

    operator_keys = _keys(server, f"operator-{uid}")
    for principal, outcome in mine.items():
        name = principal.rsplit("/", 1)[-1]
        if ":user/" in principal:
            creds = _keys(server, name)
        else:
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=_trust(operator))
            session = server.client("sts", operator_keys).assume_role(RoleArn=principal, RoleSessionName="hop")["Credentials"]
            creds = Credentials.from_response(session)
        assert assume(creds) == ("allowed" if outcome == "allowed" else "AccessDenied"), principal


def test_revoking_sessions_denies_a_session_already_issued(console: Console, server: TesseraServer) -> None:
    iam = server.client("iam")
    uid = _uid()
    user = f"holder-{uid}"
    iam.create_user(UserName=user)
    creds = _keys(server, user)
    role = f"revocable-{uid}"
    role_arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=_trust(f"arn:aws:iam::{server.account_id}:user/{user}"))["Role"][
        "Arn"
    ]
    iam.put_role_policy(RoleName=role, PolicyName="read", PolicyDocument=_allow("iam:GetRole"))
    session = Credentials.from_response(server.client("sts", creds).assume_role(RoleArn=role_arn, RoleSessionName="holder")["Credentials"])
    held = server.client("iam", session)
    assert held.get_role(RoleName=role)["Role"]["Arn"] == role_arn

    page = console.goto(f"/roles/{role}")
    assert page.locator("#sessions-revoked").inner_text() == "Never"
    page.get_by_role("button", name="Revoke active sessions").click()
    page.wait_for_url("**?done=revoked")
    assert page.get_by_role("status").inner_text() == "Sessions issued before now are revoked."
    assert page.locator("#sessions-revoked").inner_text().startswith("Sessions issued before ")
    assert "AWSRevokeOlderSessions" in iam.list_role_policies(RoleName=role)["PolicyNames"]

    with pytest.raises(ClientError) as refused:
        held.get_role(RoleName=role)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert "explicit deny in an identity-based policy" in refused.value.response["Error"]["Message"]


def test_a_read_only_user_sees_the_role_and_cannot_change_it(browser: Any, server: TesseraServer) -> None:
    iam = server.client("iam")
    reader = console_user(server, "arn:aws:iam::aws:policy/ReadOnlyAccess", prefix="reader")
    role = f"watched-{_uid()}"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=_trust(f"arn:aws:iam::{server.account_id}:root"))
    with Console.opened(browser, server) as console:
        console.signed_in(reader)
        console.page.on("dialog", lambda dialog: dialog.accept())
        page = console.goto(f"/roles/{role}")
        assert page.get_by_role("heading", name=f"Role {role}").is_visible()
        changed = _trust(f"arn:aws:iam::{server.account_id}:user/{reader}")
        page.get_by_label("Trust policy document").fill(changed)
        page.get_by_role("button", name="Update trust policy").click()
        alert = page.locator("#trust-error")
        assert f"is not authorized to perform: iam:UpdateAssumeRolePolicy on resource: arn:aws:iam::{server.account_id}:role/{role}" in (
            alert.inner_text()
        )
        assert page.get_by_label("Trust policy document").input_value() == changed
        assert page.locator("li.line-error").count() == 0
        page.get_by_role("button", name="Revoke active sessions").click()
        assert "iam:PutRolePolicy" in page.locator("#sessions-error").inner_text()
        assert iam.list_role_policies(RoleName=role)["PolicyNames"] == []


def test_who_can_assume_shows_only_what_the_signed_in_user_may_simulate(browser: Any, server: TesseraServer) -> None:
    iam = server.client("iam")
    uid = _uid()
    auditor = console_user(server, None, prefix="auditor")
    me = iam.get_user(UserName=auditor)["User"]["Arn"]
    reads = {"Effect": "Allow", "Action": ["iam:GetRole", "iam:List*", "iam:GetRolePolicy"], "Resource": "*"}
    own = {"Effect": "Allow", "Action": "iam:SimulatePrincipalPolicy", "Resource": me}
    iam.put_user_policy(
        UserName=auditor, PolicyName="audit", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [reads, own]})
    )
    other = iam.create_user(UserName=f"other-{uid}")["User"]["Arn"]
    role = f"audited-{uid}"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=_trust(me))
    with Console.opened(browser, server) as console:
        console.signed_in(auditor)
        page = console.goto(f"/roles/{role}")
        rows = page.locator("#assumers tbody tr")
        mine = rows.filter(has=page.get_by_role("rowheader", name=me, exact=True))
        assert mine.get_attribute("data-outcome") == "allowed"  # named by the trust policy
        theirs = rows.filter(has=page.get_by_role("rowheader", name=other, exact=True))
        assert theirs.get_attribute("data-outcome") == "unknown"
        assert "is not authorized to perform: iam:SimulatePrincipalPolicy" in theirs.inner_text()

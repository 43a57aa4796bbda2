"""The console's Switch Role in a real browser: into a role of another account of the
organization and back, refusals by the trust policy, by an MFA condition and for root,
the role history, revocation, and a role cookie that another console session cannot use;
on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import uuid
from dataclasses import dataclass
from typing import Any

import pyotp
import pytest
from consoleui import PASSWORD, Console, console_user, trail_events
from policies import allow, policy, revoke_older_sessions, trust
from serverproc import Credentials, TesseraServer


@dataclass
class World:
    """The management account (where users sign in) and a member account whose roles
    trust it: ``Target`` (reads IAM), ``Refusing`` (trusts only its own account) and
    ``NeedsMfa`` (trusts the management account when MFA was used)."""

    server: TesseraServer
    member: str
    member_iam: Any
    member_user: str
    alias: str


@pytest.fixture(scope="module")
def world(server: TesseraServer) -> World:
    org = server.client("organizations")
    org.create_organization(FeatureSet="ALL")
    request = org.create_account(Email="switch@example.com", AccountName="switch-member")["CreateAccountStatus"]
    member = str(org.describe_create_account_status(CreateAccountRequestId=request["Id"])["CreateAccountStatus"]["AccountId"])
    admin = server.make_user("switch-setup", policy(allow("sts:AssumeRole")))
    access = f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole"
    session = server.client("sts", admin).assume_role(RoleArn=access, RoleSessionName="setup")["Credentials"]
    member_iam = server.client("iam", Credentials.from_response(session))
    management = {"AWS": f"arn:aws:iam::{server.account_id}:root"}
    mfa = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    for name, trusted in (
        ("Target", policy(trust(management))),
        ("Refusing", policy(trust({"AWS": f"arn:aws:iam::{member}:root"}))),
        ("NeedsMfa", policy(trust(management, Condition=mfa))),
    ):
        member_iam.create_role(RoleName=name, Path="/ops/" if name == "Target" else "/", AssumeRolePolicyDocument=trusted)
        member_iam.put_role_policy(RoleName=name, PolicyName="read", PolicyDocument=policy(allow(["iam:Get*", "iam:List*"])))
    member_user = "member-only-user"
    member_iam.create_user(UserName=member_user)
    alias = f"switch-{uuid.uuid4().hex[:10]}"
    member_iam.create_account_alias(AccountAlias=alias)
    return World(server, member, member_iam, member_user, alias)


def _user(server: TesseraServer) -> str:
    """A user of the management account allowed to assume any role (its policies'
    side of a cross-account switch)."""
    return console_user(server, None, inline={"switch": policy(allow("sts:AssumeRole", "arn:aws:iam::*:role/*"))})


def _switch(console: Console, account: str, role: str, display: str = "", colour: str = "") -> Any:
    page = console.goto("/switchrole")
    page.get_by_label("Account ID or alias").fill(account)
    page.get_by_label("Role name").fill(role)
    if display:
        page.get_by_label("Display name").fill(display)
    if colour:
        page.get_by_label(colour, exact=True).check()
    page.get_by_role("button", name="Switch role").click()
    return page


def _of(arn: str) -> Any:
    """``until`` for ``trail_events``: an event of ``arn``."""
    return lambda events: any(e["userIdentity"].get("arn") == arn for e in events)


def _header(console: Console) -> str:
    return console.page.get_by_role("banner").inner_text()


def test_switch_into_another_accounts_role_and_back(console: Console, world: World) -> None:
    server = world.server
    name = _user(server)
    console.signed_in(name)
    page = _switch(console, world.member, "ops/Target", "Production", "Red")
    page.wait_for_url("**/console/")
    # the header names the role session in the other account, in the chosen colour
    header = _header(console)
    assert f"arn:aws:sts::{world.member}:assumed-role/Target/{name}" in header and "Production" in header
    badge = page.locator(".role-badge")
    assert badge.get_attribute("data-colour") == "#f2b0a9"
    assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(242, 176, 169)"
    # the pages act as the role: the member account's identity and data
    main = page.inner_text("main")
    assert world.member in main and world.member_user in main
    assert console.cookie("tessera-console-role") is not None
    # back to the user: its own account again, the role's cookies gone
    page.get_by_role("button", name=f"Back to {name}").click()
    page.wait_for_url("**/console/")
    assert f"arn:aws:iam::{server.account_id}:user/{name}" in _header(console)
    assert world.member_user not in page.inner_text("main") and console.cookie("tessera-console-role") is None
    assert page.locator(".role-badge").count() == 0
    # the switch and the way back are sign-in events of the role session, as AWS records them
    session_arn = f"arn:aws:sts::{world.member}:assumed-role/Target/{name}"
    user_arn = f"arn:aws:iam::{server.account_id}:user/{name}"
    (switched,) = [e for e in trail_events(server, "SwitchRole", until=_of(session_arn)) if e["userIdentity"]["arn"] == session_arn]
    assert switched["eventSource"] == "signin.amazonaws.com" and switched["eventType"] == "AwsConsoleSignIn"
    assert switched["responseElements"] == {"SwitchRole": "Success"} and switched["recipientAccountId"] == world.member
    assert switched["additionalEventData"] == {"SwitchFrom": user_arn, "RedirectTo": "/console/"}
    (exited,) = [e for e in trail_events(server, "ExitRole", until=_of(session_arn)) if e["userIdentity"]["arn"] == session_arn]
    assert exited["responseElements"] == {"ExitRole": "Success"}
    # signing out while acting as a role ends both sessions, each recorded in its account
    _switch(console, world.member, "ops/Target").wait_for_url("**/console/")
    console.sign_out()
    ended = (session_arn, user_arn)
    both = lambda events: {e["userIdentity"]["arn"] for e in events} >= set(ended)  # noqa: E731
    logouts = {e["userIdentity"]["arn"]: e for e in trail_events(server, "ConsoleLogout", until=both) if e["userIdentity"]["arn"] in ended}
    assert logouts.keys() == {session_arn, user_arn}
    assert logouts[session_arn]["recipientAccountId"] == world.member and logouts[user_arn]["recipientAccountId"] == server.account_id


def test_a_role_that_does_not_trust_the_user_is_refused_with_awss_message(console: Console, world: World) -> None:
    name = _user(world.server)
    console.signed_in(name)
    page = _switch(console, world.member, "Refusing")
    error = page.locator("#switch-error").inner_text()
    assert error == (
        f"User: arn:aws:iam::{world.server.account_id}:user/{name} is not authorized to perform: sts:AssumeRole "
        f"on resource: arn:aws:iam::{world.member}:role/Refusing"
    )
    # the form keeps what was typed, and nothing changed
    assert page.get_by_label("Role name").input_value() == "Refusing"
    assert console.cookie("tessera-console-role") is None
    # an account alias nobody has gets AWS's answer for unknown information
    page = _switch(console, "no-such-alias-here", "Target")
    assert page.locator("#switch-error").inner_text().startswith("Invalid information in one or more fields.")


def test_a_role_that_requires_mfa_needs_a_sign_in_with_mfa(console: Console, browser: Any, world: World) -> None:
    server = world.server
    name = _user(server)
    console.signed_in(name)
    page = _switch(console, world.member, "NeedsMfa")
    assert "is not authorized to perform: sts:AssumeRole" in page.locator("#switch-error").inner_text()
    # the same user signed in with MFA: the console session carries it into the switch
    iam = server.client("iam")
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]
    totp = pyotp.TOTP(device["Base32StringSeed"].decode())
    now = dt.datetime.now(dt.UTC)
    iam.enable_mfa_device(
        UserName=name,
        SerialNumber=device["SerialNumber"],
        AuthenticationCode1=totp.at(now - dt.timedelta(seconds=30)),
        AuthenticationCode2=totp.at(now),
    )
    with Console.opened(browser, server) as other:
        page = other.sign_in(name, PASSWORD)
        page.wait_for_url("**/console/signin/mfa")
        page.get_by_label("MFA code").fill(totp.at(now + dt.timedelta(seconds=30)))
        page.get_by_role("button", name="Verify").click()
        page.wait_for_url("**/console/")
        _switch(other, world.member, "NeedsMfa").wait_for_url("**/console/")
        assert f"assumed-role/NeedsMfa/{name}" in _header(other)


def test_the_role_history_switches_again_in_one_click(console: Console, world: World) -> None:
    name = _user(world.server)
    console.signed_in(name)
    page = console.goto("/switchrole")
    assert "The roles you switch to are listed here" in page.inner_text("main")
    _switch(console, world.member, "ops/Target", "First", "Blue").wait_for_url("**/console/")
    _switch(console, world.member, "NeedsMfa")  # refused: not remembered
    _switch(console, world.member, "ops/Target", "Second").wait_for_url("**/console/")
    _switch(console, world.alias, "ops/Target", colour="Green").wait_for_url("**/console/")
    assert f"Target @ {world.alias}" in _header(console)
    page = console.goto("/switchrole")
    assert "Current role" in page.inner_text("main")
    history = page.get_by_role("region", name="Role history").get_by_role("button")
    assert history.all_inner_texts() == [f"Target @ {world.alias}", "Second"]
    console.screenshot("switch-role")
    page.get_by_role("button", name=f"Back to {name}").click()
    page.wait_for_url("**/console/")
    # one click switches again (a POST with the form's token) and moves it to the top
    page = console.goto("/switchrole")
    page.get_by_role("region", name="Role history").get_by_role("button", name="Second").click()
    page.wait_for_url("**/console/")
    assert f"assumed-role/Target/{name}" in _header(console) and "Second" in _header(console)
    page = console.goto("/switchrole")
    history = page.get_by_role("region", name="Role history").get_by_role("button")
    assert history.all_inner_texts() == ["Second", f"Target @ {world.alias}"]


def test_the_link_form_prefills_and_never_switches(console: Console, world: World) -> None:
    name = _user(world.server)
    console.signed_in(name)
    page = console.goto(f"/switchrole?account={world.member}&roleName=ops/Target&displayName=Linked&color=efda95")
    assert page.get_by_label("Account ID or alias").input_value() == world.member
    assert page.get_by_label("Role name").input_value() == "ops/Target"
    assert page.get_by_label("Display name").input_value() == "Linked"
    assert page.get_by_label("Yellow", exact=True).is_checked()
    assert console.cookie("tessera-console-role") is None and "assumed-role" not in _header(console)
    page.get_by_role("button", name="Switch role").click()
    page.wait_for_url("**/console/")
    assert "Linked" in _header(console)


def test_revoking_the_roles_sessions_refuses_the_switched_pages(console: Console, world: World) -> None:
    name = _user(world.server)
    console.signed_in(name)
    role = f"Revoked-{name}"
    management = {"AWS": f"arn:aws:iam::{world.server.account_id}:root"}
    world.member_iam.create_role(RoleName=role, AssumeRolePolicyDocument=policy(trust(management)))
    world.member_iam.put_role_policy(RoleName=role, PolicyName="read", PolicyDocument=policy(allow(["iam:Get*", "iam:List*"])))
    _switch(console, world.member, role).wait_for_url("**/console/")
    assert world.member_user in console.page.inner_text("main")
    world.member_iam.put_role_policy(RoleName=role, PolicyName="AWSRevokeOlderSessions", PolicyDocument=revoke_older_sessions())
    page = console.goto("/")
    main = page.inner_text("main")
    # still acting as the role, whose every call is now refused (GetCallerIdentity,
    # which no policy can deny, excepted), as its API calls would be
    assert f"assumed-role/{role}/{name}" in _header(console)
    assert "with an explicit deny in an identity-based policy" in main and world.member_user not in main


def test_a_role_cookie_serves_only_the_console_session_that_switched(console: Console, browser: Any, world: World) -> None:
    server = world.server
    name = _user(server)
    console.signed_in(name)
    _switch(console, world.member, "ops/Target").wait_for_url("**/console/")
    role_cookies = [c for c in console.page.context.cookies() if c["name"].startswith("tessera-console-role")]
    assert len(role_cookies) == 2
    # the same user, signed in elsewhere, given this browser's role cookies, acts as itself
    with Console.opened(browser, server) as other:
        other.signed_in(name)
        other.page.context.add_cookies(role_cookies)
        other.goto("/")
        assert f"arn:aws:iam::{server.account_id}:user/{name}" in _header(other) and "assumed-role" not in _header(other)
    # signing out ends the role session too: the cookies replayed open nothing
    console.sign_out_and_replay(browser, "/switchrole")


def test_the_root_user_cannot_switch_roles(console: Console, world: World) -> None:
    server = world.server
    command = [sys.executable, "-m", "tessera", "accounts", "set-root-password", "--data-dir", server.data_dir]
    if server.database_url:
        command += ["--database-url", server.database_url]
    done = subprocess.run(command, input="Root-Password-77\n", capture_output=True, text=True, env=server.environment(), check=False)
    assert done.returncode == 0, done.stderr
    console.sign_in("", "Root-Password-77", root=True).wait_for_url("**/console/")
    page = _switch(console, world.member, "ops/Target")
    assert page.locator("#switch-error").inner_text() == "Roles may not be assumed by root accounts."
    assert console.cookie("tessera-console-role") is None

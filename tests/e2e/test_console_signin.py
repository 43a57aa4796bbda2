"""The console's sign-in in a real browser: passwords with the account's policy, MFA,
lock-out, root, sign-out and revocation, CSRF; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from consoleui import PASSWORD, Console, console_user, trail_events
from policies import revoke_older_sessions
from serverproc import TesseraServer

from tessera.services.throttle import MFA_MAX_FAILURES


def test_sign_in_with_password_opens_the_dashboard(console: Console, server: TesseraServer) -> None:
    name = console_user(server)
    page = console.signed_in(name)
    assert page.get_by_role("heading", name="Dashboard").is_visible()
    assert f"arn:aws:iam::{server.account_id}:user/{name}" in page.inner_text("main")
    cookie = console.cookie("tessera-console")
    assert cookie is not None and cookie.startswith("ASIA")
    flags = next(c for c in console.page.context.cookies() if c["name"] == "tessera-console")
    assert flags["httpOnly"] and flags["sameSite"] == "Strict"
    console.screenshot("dashboard")
    # the sign-in is a ConsoleLogin event, and the dashboard's calls are console activity
    events = trail_events(server, "ConsoleLogin")
    mine = [e for e in events if e["userIdentity"].get("userName") == name]
    assert mine and mine[-1]["responseElements"] == {"ConsoleLogin": "Success"}
    assert mine[-1]["eventType"] == "AwsConsoleSignIn" and mine[-1]["additionalEventData"]["MFAUsed"] == "No"
    calls = [e for e in trail_events(server, "GetAccountSummary", until=_by(name)) if e["userIdentity"].get("userName") == name]
    assert calls and calls[-1]["sessionCredentialFromConsole"] == "true"
    assert calls[-1]["userIdentity"]["accessKeyId"] == cookie.split(".")[0]
    # PasswordLastUsed is the sign-in's
    assert "PasswordLastUsed" in server.client("iam").get_user(UserName=name)["User"]


def test_wrong_password_is_refused_then_locked_out(console: Console, server: TesseraServer) -> None:
    name = console_user(server)
    page = console.sign_in(name, "wrong-password-1")
    assert page.locator("#signin-error").inner_text() == "Your authentication information is incorrect. Please try again."
    assert console.cookie("tessera-console") is None
    # an unknown user gets the same answer
    page = console.sign_in("nobody-" + name, PASSWORD)
    assert page.locator("#signin-error").inner_text() == "Your authentication information is incorrect. Please try again."
    for _ in range(6):
        page = console.sign_in(name, "wrong-password-2")
    assert "Too many failed sign-in attempts" in page.locator("#signin-error").inner_text()
    # locked: even the right password is refused, before it is looked at
    page = console.sign_in(name, PASSWORD)
    assert "Too many failed sign-in attempts" in page.locator("#signin-error").inner_text()
    assert console.cookie("tessera-console") is None
    # each failure that counted is recorded; the refusals of the lock-out are not (they cost
    # the server nothing, and must not cost the trail anything), nor was the right password
    counted = MFA_MAX_FAILURES  # the budget of one name from one address, the first wrong password's included
    failures = [e for e in trail_events(server, "ConsoleLogin", until=_by(name, counted)) if e["userIdentity"].get("userName") == name]
    assert len(failures) == counted and all(e["responseElements"] == {"ConsoleLogin": "Failure"} for e in failures)


def test_mfa_is_asked_of_a_user_with_a_device(console: Console, server: TesseraServer) -> None:
    name = console_user(server)
    iam = server.client("iam")
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]
    totp = pyotp.TOTP(device["Base32StringSeed"].decode())
    now = dt.datetime.now(dt.UTC)
    first = totp.at(now - dt.timedelta(seconds=30))
    second = totp.at(now)
    iam.enable_mfa_device(UserName=name, SerialNumber=device["SerialNumber"], AuthenticationCode1=first, AuthenticationCode2=second)
    page = console.sign_in(name, PASSWORD)
    page.wait_for_url("**/console/signin/mfa")
    assert console.cookie("tessera-console") is None
    page.get_by_label("MFA code").fill("000000" if totp.now() != "000000" else "111111")
    page.get_by_role("button", name="Verify").click()
    assert page.locator("#signin-error").is_visible()
    assert console.cookie("tessera-console") is None
    page.get_by_label("MFA code").fill(totp.at(now + dt.timedelta(seconds=30)))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url("**/console/")
    login = [e for e in trail_events(server, "ConsoleLogin", until=_by(name, 2)) if e["userIdentity"].get("userName") == name]
    assert login[-1]["additionalEventData"]["MFAUsed"] == "Yes"
    # the session carries MFA: aws:MultiFactorAuthPresent is true for its calls
    summary = [e for e in trail_events(server, "GetAccountSummary", until=_by(name)) if e["userIdentity"].get("userName") == name]
    assert summary[-1]["userIdentity"]["sessionContext"]["attributes"]["mfaAuthenticated"] == "true"


def test_a_password_reset_is_required_before_anything_else(console: Console, server: TesseraServer) -> None:
    server.client("iam").update_account_password_policy(MinimumPasswordLength=12, AllowUsersToChangePassword=True)
    try:
        name = console_user(server, PasswordResetRequired=True)
        page = console.sign_in(name, PASSWORD)
        page.wait_for_url("**/console/signin/password")
        assert console.cookie("tessera-console") is None
        # the dashboard is not reachable yet
        console.goto("/")
        console.page.wait_for_url("**/console/signin**")
        page = console.goto("/signin/password")
        page.get_by_label("Current password").fill(PASSWORD)
        page.get_by_label("New password", exact=True).fill("short-1A")
        page.get_by_label("New password again").fill("short-1A")
        page.get_by_role("button", name="Set password").click()
        assert "minimum" in page.locator("#signin-error").inner_text().lower()
        page.get_by_label("Current password").fill(PASSWORD)
        page.get_by_label("New password", exact=True).fill("A-much-longer-one-42")
        page.get_by_label("New password again").fill("A-much-longer-one-42")
        page.get_by_role("button", name="Set password").click()
        page.wait_for_url("**/console/")
        profile = server.client("iam").get_login_profile(UserName=name)["LoginProfile"]
        assert profile["PasswordResetRequired"] is False
    finally:
        server.client("iam").delete_account_password_policy()


def test_a_hard_expired_password_cannot_sign_in(console: Console, server: TesseraServer) -> None:
    name = console_user(server)
    iam = server.client("iam")
    iam.update_account_password_policy(MaxPasswordAge=1, HardExpiry=True)
    try:
        # the password was set now: not expired yet
        console.signed_in(name)
    finally:
        iam.delete_account_password_policy()


def test_sign_out_ends_the_session_everywhere(console: Console, browser: Any, server: TesseraServer) -> None:
    name = console_user(server)
    console.signed_in(name)
    # the cookie, replayed in another browser, opens nothing
    console.sign_out_and_replay(browser)
    # the sign-out is in the trail, committed with it
    (logout,) = [e for e in trail_events(server, "ConsoleLogout") if e["userIdentity"].get("arn", "").endswith(f"/{name}")]
    assert logout["eventSource"] == "signin.amazonaws.com" and logout["eventType"] == "AwsConsoleSignIn"
    assert logout["responseElements"] == {"ConsoleLogout": "Success"}
    assert logout["userIdentity"]["userName"] == name and logout["userIdentity"]["accessKeyId"].startswith("ASIA")  # the session ended


def test_revoking_the_users_sessions_ends_the_console_session(console: Console, server: TesseraServer) -> None:
    name = console_user(server)
    console.signed_in(name)
    server.client("iam").put_user_policy(UserName=name, PolicyName="AWSRevokeOlderSessions", PolicyDocument=revoke_older_sessions())
    page = console.goto("/")
    # every call the dashboard makes is refused (GetCallerIdentity, which no policy can
    # deny, excepted), as the same credentials' API calls would be
    assert "with an explicit deny in an identity-based policy" in page.inner_text("main")
    assert "IAM resources in this account" not in page.inner_text("main")


def test_a_post_without_the_csrf_token_is_refused(console: Console, server: TesseraServer) -> None:
    name = console_user(server)
    console.signed_in(name)
    response = console.page.request.post(f"{server.endpoint}/console/signout", form={"csrf": "forged"}, headers={"Origin": server.endpoint})
    assert response.status == 403
    response = console.page.request.post(
        f"{server.endpoint}/console/signout", form={"csrf": "x"}, headers={"Origin": "https://evil.example"}
    )
    assert response.status == 403
    console.goto("/")
    assert console.page.get_by_role("heading", name="Dashboard").is_visible()


def test_root_signs_in_with_the_password_set_from_the_cli(console: Console, server: TesseraServer) -> None:
    command = [sys.executable, "-m", "tessera", "accounts", "set-root-password", "--data-dir", server.data_dir]
    if server.database_url:
        command += ["--database-url", server.database_url]
    weak = subprocess.run(command, input="weak\n", capture_output=True, text=True, env=server.environment(), check=False)
    assert weak.returncode == 2 and "8 to 128" in weak.stderr
    done = subprocess.run(command, input="Root-Password-77\n", capture_output=True, text=True, env=server.environment(), check=False)
    assert done.returncode == 0, done.stderr
    page = console.sign_in("", "Root-Password-77", root=True)
    page.wait_for_url("**/console/")
    assert f"arn:aws:iam::{server.account_id}:root" in page.inner_text("main")
    # the change is recorded as AWS records a root password change: once, by the
    # command that made it (the refused weak password made none)
    (updated,) = trail_events(server, "PasswordUpdated")
    assert updated["userIdentity"]["type"] == "Root" and updated["userIdentity"]["arn"] == f"arn:aws:iam::{server.account_id}:root"
    assert updated["responseElements"] == {"PasswordUpdated": "Success"} and updated["eventType"] == "AwsConsoleSignIn"
    assert updated["sourceIPAddress"] == "AWS Internal" and updated["userAgent"] == "tessera accounts set-root-password"


def test_the_console_is_off_with_no_console(fresh_server: Any) -> None:
    srv = fresh_server("sqlite", extra_args=["--no-console"])
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{srv.endpoint}/console/signin", timeout=5)
    with refused.value:
        # an unsigned request to the API, answered as one
        assert refused.value.code == 403 and b"MissingAuthenticationToken" in refused.value.read()


def _by(name: str, count: int = 1) -> Callable[[list[dict[str, Any]]], bool]:
    """``until`` for ``trail_events``: at least ``count`` events of user ``name``."""
    return lambda events: sum(e["userIdentity"].get("userName") == name for e in events) >= count

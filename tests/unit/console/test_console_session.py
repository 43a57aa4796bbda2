"""Console sessions: sealed notes, CSRF tokens, the identities cookies hold, sign-in's
pure rules (password state, address keys), and the edge's parsing and redirects."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tessera.clock import FixedClock
from tessera.console import pages, signin
from tessera.console.page import match
from tessera.console.pages import signin as signin_pages
from tessera.console.session import csrf_matches, csrf_token, open_note, read_identity, seal_note
from tessera.console.web import PREFIX, Response, parse_cookies, parse_form
from tessera.errors import ServiceUnavailable
from tessera.services import records as R
from tessera.services.iam.passwords import hash_password
from tessera.services.runtime import Runtime
from tessera.services.sts.credentials import issue_credentials
from tessera.services.throttle import MFA_MAX_FAILURES, Limiters
from tessera.store.base import BackendError

ACCOUNT = "123456789012"
NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def account() -> str:
    """The account of ``runtime`` (tests/unit/conftest.py)."""
    return ACCOUNT


def test_a_note_opens_only_for_its_purpose_untampered_and_unexpired(runtime: Runtime) -> None:
    note = seal_note(runtime, "pending-signin", {"stage": "mfa", "user_id": "AIDA1"}, NOW + dt.timedelta(minutes=5))
    assert open_note(runtime, "pending-signin", note, NOW) == {"stage": "mfa", "user_id": "AIDA1"}
    assert open_note(runtime, "recent-roles", note, NOW) is None  # another purpose's key
    assert open_note(runtime, "pending-signin", note, NOW + dt.timedelta(minutes=5)) is None  # expired
    key_id, _, body = note.partition("~")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    assert open_note(runtime, "pending-signin", f"{key_id}~{flipped}", NOW) is None
    assert open_note(runtime, "pending-signin", f"unknown-key~{body}", NOW) is None
    for junk in ("", "~", "no-separator", "k~!!!", "x" * 5000):
        assert open_note(runtime, "pending-signin", junk, NOW) is None


def _signed_in(runtime: Runtime) -> signin.Step:
    signin.set_root_password(runtime, ACCOUNT, "Root-Password-77", NOW)
    runtime.view.refresh_committed((ACCOUNT,))
    who = signin.find_principal(runtime, ACCOUNT, "", root=True)
    assert who is not None
    return signin.finish(runtime, who, mfa=False, source_ip="192.0.2.1", user_agent="pytest", now=NOW)


def test_a_console_session_is_read_back_until_it_expires_or_signs_out(runtime: Runtime, clock: FixedClock) -> None:
    step = _signed_in(runtime)
    assert step.kind == "done" and step.credentials is not None
    cookie = f"{step.credentials['AccessKeyId']}.{step.credentials['SessionToken']}"
    identity = read_identity(runtime, cookie)
    assert identity is not None and identity.caller.kind == "root" and identity.caller.account == ACCOUNT
    assert identity.caller.session is not None and identity.caller.session.kind == "console"
    # CSRF: bound to the session, constant-time compared
    token = csrf_token(identity)
    altered = token[:-1] + ("1" if token[-1] == "0" else "0")
    assert csrf_matches(identity, token) and not csrf_matches(identity, altered) and not csrf_matches(identity, "")
    # tampered or foreign cookies open nothing
    for bad in (
        "",
        cookie.replace(".", "-", 1),
        "AKIA" + cookie[4:],
        cookie[:-3] + ("abc" if not cookie.endswith("abc") else "xyz"),
        "ASIA.x",
    ):
        assert read_identity(runtime, bad) is None
    # signed out: refused from the view, as every node's
    with runtime.store.write(ACCOUNT) as tx:
        tx.put(ACCOUNT, R.CONSOLE_SIGNOUT, identity.access_key_id, {"expires": "2026-12-02T13:00:00Z"})
    runtime.view.refresh_committed((ACCOUNT,))
    assert read_identity(runtime, cookie) is None


def test_an_expired_console_session_opens_nothing(runtime: Runtime, clock: FixedClock) -> None:
    step = _signed_in(runtime)
    assert step.credentials is not None
    cookie = f"{step.credentials['AccessKeyId']}.{step.credentials['SessionToken']}"
    clock.advance(3601)  # root's console session lasts an hour
    assert read_identity(runtime, cookie) is None


def _root_sign_in(runtime: Runtime, password: str, record: signin.Sink) -> tuple[signin.Step, signin.Who | None]:
    """``check_password`` for the root user of ``ACCOUNT``."""
    return signin.check_password(
        runtime,
        record,
        account_text=ACCOUNT,
        user_name="",
        root=True,
        password=password,
        source_ip="192.0.2.1",
        user_agent="pytest",
        now=NOW,
    )


def test_root_cannot_sign_in_without_a_password(runtime: Runtime) -> None:
    events: list[dict[str, object]] = []
    step, who = _root_sign_in(runtime, "anything-at-all", events.append)
    assert step.kind == "refused" and step.message == signin.WRONG and who is None
    assert events[0]["eventName"] == "ConsoleLogin" and events[0]["responseElements"] == {"ConsoleLogin": "Failure"}


def test_root_signs_in_with_its_password_and_the_event_is_committed(runtime: Runtime) -> None:
    signin.set_root_password(runtime, ACCOUNT, "Root-Password-77", NOW)
    runtime.view.refresh_committed((ACCOUNT,))
    step, who = _root_sign_in(runtime, "Root-Password-77", lambda event: None)
    assert step.kind == "done" and who is not None and who.root
    events = list(runtime.store.query_audit())
    login = [e for e in events if e["eventName"] == "ConsoleLogin"]
    assert login and login[-1]["responseElements"] == {"ConsoleLogin": "Success"} and login[-1]["eventType"] == "AwsConsoleSignIn"
    state = runtime.view.account(ACCOUNT)
    assert state is not None and state.root_password is not None and state.root_password["last_used"] == "2026-12-02T12:00:00Z"


def _profile(changed: str, reset: bool = False) -> R.LoginProfileRecord:
    return {
        "user": "alice",
        "user_id": "AIDA1",
        "hash": "x",
        "created": changed,
        "changed": changed,
        "reset_required": reset,
        "previous": [],
        "last_used": None,
    }


def _policy(max_age: int | None, hard: bool | None) -> R.PasswordPolicyRecord:
    return {
        "minimum_length": 8,
        "require_symbols": False,
        "require_numbers": False,
        "require_uppercase": False,
        "require_lowercase": False,
        "allow_users_to_change": True,
        "max_age": max_age,
        "reuse_prevention": None,
        "hard_expiry": hard,
    }


@pytest.mark.parametrize(
    ("changed", "reset", "policy", "state"),
    [
        ("2026-12-01T12:00:00Z", False, None, "ok"),
        ("2026-12-01T12:00:00Z", True, None, "reset"),
        ("2026-11-01T12:00:00Z", False, _policy(30, None), "expired"),
        ("2026-11-01T12:00:00Z", False, _policy(30, True), "hard-expired"),
        ("2026-11-02T12:00:01Z", False, _policy(30, True), "ok"),
        ("2026-11-01T12:00:00Z", True, _policy(None, True), "reset"),
    ],
)
def test_password_state_follows_the_password_policy(changed: str, reset: bool, policy: R.PasswordPolicyRecord | None, state: str) -> None:
    assert signin.password_state(_profile(changed, reset), policy, NOW) == state


def test_addresses_are_limited_by_host_and_ipv6_by_slash_64() -> None:
    assert signin.address_key("192.0.2.7") == "signin-address:192.0.2.7"
    assert signin.address_key("2001:db8::1") == signin.address_key("2001:db8::ffff:1") == "signin-address:2001:db8::/64"
    assert signin.address_key("2001:db8:0:1::1") != signin.address_key("2001:db8::1")
    assert signin.address_key("not an address") == "signin-address:not an address"


def test_cookies_and_forms_are_parsed_within_bounds() -> None:
    assert parse_cookies('a=1; b="2"; a=3; junk; =x') == {"a": "1", "b": "2"}
    assert parse_form(b"a=1&a=2&b=%C3%A9", "application/x-www-form-urlencoded; charset=utf-8") == {"a": ["1", "2"], "b": ["é"]}
    assert parse_form(b"a=1", "multipart/form-data") is None
    assert parse_form(b"a=%FF", "application/x-www-form-urlencoded") is None
    assert parse_form(b"&".join(b"f%d=1" % i for i in range(1001)), "application/x-www-form-urlencoded") is None
    assert parse_form(b"", "") == {}


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/console/", "/elsewhere", "/consolex"])
def test_redirects_stay_in_the_console(target: str) -> None:
    assert dict(Response.redirect(target).headers)["location"] == PREFIX + "/"


def test_routes_match_by_method_and_path() -> None:
    assert pages.signin is not None  # importing the pages registers them
    found = match("GET", PREFIX + "/signin")
    assert found and not isinstance(found, bool) and found[0].public
    assert match("DELETE", PREFIX + "/signin") is False
    assert match("GET", PREFIX + "/no-such-page") is None
    head = match("HEAD", PREFIX + "/")
    assert head and not isinstance(head, bool) and not head[0].public


def test_a_session_of_another_kind_opens_no_console(runtime: Runtime) -> None:
    """A session's key id and token without its secret (what a presigned URL shows) are
    no console sign-in: only a console session is one, and only an assumed role a
    switched role."""
    for kind in ("session-token", "federation-token", "assumed-role"):
        _, credentials = issue_credentials(
            runtime,
            kind=kind,
            account=ACCOUNT,
            issued_at=NOW,
            expires_at=NOW + dt.timedelta(hours=1),
            session_name="probe",
            source_arn=f"arn:aws:iam::{ACCOUNT}:root",
            source_user_id=ACCOUNT,
        )
        cookie = f"{credentials['AccessKeyId']}.{credentials['SessionToken']}"
        assert read_identity(runtime, cookie) is None
        assert read_identity(runtime, cookie, kind) is not None


def _sign_in(runtime: Runtime, name: str, password: str, source_ip: str = "192.0.2.1") -> signin.Step:
    return signin.check_password(
        runtime,
        lambda event: None,
        account_text=ACCOUNT,
        user_name=name,
        root=False,
        password=password,
        source_ip=source_ip,
        user_agent="pytest",
        now=NOW,
    )[0]


def test_unknown_names_are_locked_out_exactly_like_users(runtime: Runtime) -> None:
    _make_user(runtime, "alice", "Alice-Password-1")
    for name in ("alice", "nobody"):
        answers = [_sign_in(runtime, name, "wrong-password").message for _ in range(6)]
        assert answers == [signin.WRONG] * 5 + [signin.LOCKED], name
    # the lock-out is the name's from this address: another address still signs in
    assert _sign_in(runtime, "alice", "Alice-Password-1", source_ip="198.51.100.9").kind == "done"
    assert _sign_in(runtime, "alice", "Alice-Password-1").message == signin.LOCKED


def test_a_sign_in_whose_password_changed_or_hard_expired_meanwhile_is_refused(runtime: Runtime) -> None:
    _make_user(runtime, "bob", "Bob-Password-1")
    state = runtime.view.account(ACCOUNT)
    assert state is not None
    who = signin.find_principal(runtime, ACCOUNT, "bob", root=False)
    assert who is not None
    changed = state.login_profiles["bob"]["changed"]
    refused = signin.finish(
        runtime, who, mfa=True, source_ip="192.0.2.1", user_agent="pytest", now=NOW, password_changed="2020-01-01T00:00:00Z"
    )
    assert refused.kind == "refused" and refused.message == signin.WRONG
    with runtime.store.write(ACCOUNT) as tx:
        tx.put(ACCOUNT, R.PASSWORD_POLICY, R.PASSWORD_POLICY, {**_policy(1, True)})
    runtime.view.refresh_committed((ACCOUNT,))
    later = NOW + dt.timedelta(days=2)
    expired = signin.finish(runtime, who, mfa=True, source_ip="192.0.2.1", user_agent="pytest", now=later, password_changed=changed)
    assert expired.kind == "refused" and expired.message == signin.HARD_EXPIRED


@pytest.mark.parametrize("target", ["/console/x\r\nSet-Cookie: a=1", "/console/\x7f", "/console/é"])
def test_redirects_carry_no_control_characters(target: str) -> None:
    assert dict(Response.redirect(target).headers)["location"] == PREFIX + "/"
    assert signin_pages._next(target) == PREFIX + "/"


def _make_user(runtime: Runtime, name: str, password: str) -> None:
    with runtime.store.write(ACCOUNT) as tx:
        user: R.UserRecord = {
            "name": name,
            "id": f"AIDA{name.upper():0<17}"[:21],
            "path": "/",
            "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
            "created": "2026-12-01T00:00:00Z",
            "tags": [],
            "inline_policies": {},
            "attached": [],
            "boundary": None,
            "groups": [],
        }
        tx.put(ACCOUNT, R.USER, name, user)
        profile = _profile("2026-12-02T11:00:00Z")
        profile.update(user=name, user_id=user["id"], hash=hash_password(password))
        tx.put(ACCOUNT, R.LOGIN_PROFILE, name, profile)
    runtime.view.refresh_committed((ACCOUNT,))


class _BudgetsDown:
    """A store whose failure budgets can be read and not written (read-only, full)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def read_budgets(self, kind: str, keys: Any) -> Any:
        return self.inner.read_budgets(kind, keys)

    def update_budget(self, *args: Any) -> Any:
        raise BackendError("database error: read-only", operation="write", reason="database is read-only")


def test_a_failure_the_budgets_cannot_record_is_a_503_not_a_crash_and_still_counts(runtime: Runtime) -> None:
    signin.set_root_password(runtime, ACCOUNT, "Root-Password-77", NOW)
    runtime.view.refresh_committed((ACCOUNT,))
    runtime.limiters = Limiters.shared_by(_BudgetsDown(runtime.store))  # type: ignore[arg-type]
    for _ in range(MFA_MAX_FAILURES):
        with pytest.raises(ServiceUnavailable):
            _root_sign_in(runtime, "wrong-password", lambda event: None)
    step, _ = _root_sign_in(runtime, "Root-Password-77", lambda event: None)
    assert step.kind == "refused" and step.message == signin.LOCKED  # counted here all the same

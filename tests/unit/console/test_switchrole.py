"""Switch Role's pure parts: the form, the palette, the role history, and which role
session a console session may act as."""

from __future__ import annotations

import datetime as dt

import pytest

from tessera.auth.caller import Caller, SessionClaims
from tessera.console.session import Identity
from tessera.console.switchrole import (
    DISPLAY_MAX,
    RECENT_MAX,
    Target,
    belongs_to,
    colour_of,
    display_note,
    recent_targets,
    remember,
    role_arn,
    session_name,
    target_from_form,
)

T0 = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
ACCOUNT = "111122223333"
OTHER = "444455556666"


def _identity(key: str, claims: SessionClaims, kind: str = "user", name: str = "alice") -> Identity:
    arn = f"arn:aws:iam::{claims.account}:user/{name}" if kind == "user" else f"arn:aws:sts::{claims.account}:assumed-role/R/{name}"
    caller = Caller(kind, claims.account, arn, "AIDAEXAMPLE", name, key, claims)  # type: ignore[arg-type]
    return Identity(caller=caller, access_key_id=key, token="token", secret="secret")


def _console(key: str = "ASIACONSOLE1", issued: dt.datetime = T0) -> Identity:
    claims = SessionClaims("console", key, "s", ACCOUNT, issued, issued + dt.timedelta(hours=12))
    return _identity(key, claims)


def _role(key: str = "ASIAROLE0001", issued: dt.datetime = T0 + dt.timedelta(minutes=5), name: str = "alice") -> Identity:
    claims = SessionClaims("assumed-role", key, "s", OTHER, issued, issued + dt.timedelta(hours=1), session_name=name, role_name="R")
    return _identity(key, claims, kind="assumed-role", name=name)


@pytest.mark.parametrize(
    ("given", "expected"),
    [("", ""), ("efda95", "efda95"), ("#EFDA95", "efda95"), (" f2b0a9 ", "f2b0a9"), ("Red", None), ("ffffff", None), ("#fff", None)],
    ids=["none", "url-form", "css-form", "spaces", "name", "off-palette", "short"],
)
def test_colour_of_accepts_only_the_palette(given: str, expected: str | None) -> None:
    assert colour_of(given) == expected


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (("", "Admin", "", ""), "Enter the account ID or alias."),
        ((ACCOUNT, " ", "", ""), "Enter the role name."),
        ((ACCOUNT, "Ad min", "", ""), "The role name can contain only"),
        ((ACCOUNT, "a//b", "", ""), "The role name can contain only"),
        ((ACCOUNT, "Admin", "x" * (DISPLAY_MAX + 1), ""), "The display name can have at most 64"),
        ((ACCOUNT, "Admin", "", "000000"), "Choose one of the colours offered."),
    ],
    ids=["no-account", "no-role", "space-in-role", "empty-path-part", "long-display", "colour"],
)
def test_target_from_form_says_what_is_wrong(fields: tuple[str, str, str, str], message: str) -> None:
    target, error = target_from_form(*fields)
    assert target is None and error.startswith(message)


def test_target_from_form_keeps_the_path_and_defaults_the_display_name() -> None:
    target, error = target_from_form(f" {ACCOUNT} ", "/ops/Admin/", "", "#83D4E8")
    assert error == "" and target == Target(ACCOUNT, "ops/Admin", "", "83d4e8")
    assert target.shown == f"Admin @ {ACCOUNT}"
    assert role_arn(ACCOUNT, target.role) == f"arn:aws:iam::{ACCOUNT}:role/ops/Admin"


def test_remember_puts_the_latest_first_once_and_keeps_five() -> None:
    history: list[Target] = []
    by = f"arn:aws:iam::{ACCOUNT}:user/alice"
    for n in range(7):
        note = remember(history, Target(ACCOUNT, f"Role{n}"), by)
        history = recent_targets(note, by)
    assert [t.role for t in history] == ["Role6", "Role5", "Role4", "Role3", "Role2"] and len(history) == RECENT_MAX
    history = recent_targets(remember(history, Target(ACCOUNT, "Role4", "again"), by), by)
    assert [t.role for t in history] == ["Role4", "Role6", "Role5", "Role3", "Role2"] and history[0].display == "again"


def test_recent_targets_are_only_their_owners_and_well_formed() -> None:
    by = f"arn:aws:iam::{ACCOUNT}:user/alice"
    note = remember([], Target(ACCOUNT, "Admin"), by)
    assert recent_targets(note, f"arn:aws:iam::{ACCOUNT}:user/bob") == []
    assert recent_targets(None, by) == []
    note["roles"].append({"account": ACCOUNT, "role": "bad role"})
    note["roles"].append("not an entry")
    assert [t.role for t in recent_targets(note, by)] == ["Admin"]


def test_session_name_is_the_users_and_roots_is_its_account() -> None:
    assert session_name(_console()) == "alice"
    claims = SessionClaims("console", "ASIAROOT0001", "s", ACCOUNT, T0, T0 + dt.timedelta(hours=1))
    root = Identity(Caller("root", ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT, "", "ASIAROOT0001", claims), "ASIAROOT0001", "t", "s")
    assert session_name(root) == ACCOUNT


def test_a_role_session_belongs_only_to_the_console_session_that_opened_it() -> None:
    console, role = _console(), _role()
    note = display_note(Target(OTHER, "R", "Prod", "f2b0a9"), console, role)
    assert note["colour"] == "#f2b0a9" and note["display"] == "Prod"
    assert belongs_to(role, console, note)
    assert not belongs_to(role, console, None)
    # another console session of the same user (a copied cookie pair)
    assert not belongs_to(role, _console("ASIACONSOLE2"), note)
    # another role session under this note
    assert not belongs_to(_role("ASIAROLE0002"), console, note)
    # a role session named after someone else, or older than the console session
    assert not belongs_to(_role(name="mallory"), console, display_note(Target(OTHER, "R"), console, _role(name="mallory")))
    older = _role(issued=T0 - dt.timedelta(seconds=1))
    assert not belongs_to(older, console, display_note(Target(OTHER, "R"), console, older))
    # a console session is not a role session
    assert not belongs_to(console, console, {**note, "role": console.access_key_id})

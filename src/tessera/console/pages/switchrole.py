"""Switch Role, the role history and "Back to" the signed-in identity
(``tessera.console.switchrole``)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from tessera.console.calls import Api
from tessera.console.page import Page, route
from tessera.console.session import (
    RECENT_COOKIE,
    RECENT_PURPOSE,
    ROLE_COOKIE,
    ROLE_DISPLAY_COOKIE,
    ROLE_DISPLAY_PURPOSE,
    Identity,
    identity_from_credentials,
    open_note,
    seal_note,
)
from tessera.console.signin import find_account, signin_event
from tessera.console.switchrole import (
    INVALID,
    PALETTE,
    RECENT_SECONDS,
    SESSION_SECONDS,
    Target,
    colour_of,
    display_note,
    is_account_id,
    recent_targets,
    remember,
    role_arn,
    session_name,
    target_from_form,
)
from tessera.console.web import PREFIX, Response
from tessera.errors import TesseraError


@route("GET", "/switchrole")
def switchrole_form(page: Page) -> Response:
    """The form, prefilled from AWS's link form ``?account=&roleName=&displayName=&color=``
    (a GET never switches)."""
    arg = page.request.arg
    typed = Target(arg("account"), arg("roleName"), arg("displayName")[:64], colour_of(arg("color")) or "")
    return _form(page, typed, error="")


@route("POST", "/switchrole")
def switchrole_submit(page: Page) -> Response:
    """Switch: AssumeRole as the signed-in identity, then act as the role."""
    request = page.request
    signed_in = page.signed_in
    assert signed_in is not None  # INVARIANT: not a public route
    target, error = target_from_form(request.field("account"), request.field("role"), request.field("display"), request.field("colour"))
    if target is None:
        typed = Target(request.field("account"), request.field("role"), request.field("display"), colour_of(request.field("colour")) or "")
        return _form(page, typed, error=error, status=400)
    account = target.account if is_account_id(target.account) else _account_of_alias(page, target.account)
    if account is None:
        return _form(page, target, error=INVALID, status=400)
    api = Api(page.app, signed_in.caller, request.source_ip, request.headers.get("user-agent", ""), request.secure)
    try:
        arn = role_arn(account, target.role)
        result = api.sts("AssumeRole", RoleArn=arn, RoleSessionName=session_name(signed_in), DurationSeconds=SESSION_SECONDS)
    except TesseraError as failure:
        return _form(page, target, error=failure.message or failure.code, status=failure.status)
    role = identity_from_credentials(page.runtime, result["Credentials"], "assumed-role")
    if role is None:  # signed out or deleted in between
        return _form(page, target, error=INVALID, status=400)
    # the AssumeRole call is recorded as such (durably: it issued credentials); the
    # switch itself is a sign-in event, as AWS's console records it
    _record(page, "SwitchRole", role, {"SwitchFrom": signed_in.caller.arn, "RedirectTo": PREFIX + "/"})
    return _switched(page, signed_in, role, target)


@route("POST", "/switchrole/back")
def switch_back(page: Page) -> Response:
    """Back to the signed-in identity: the role's cookies are dropped."""
    if page.acting is not None and page.acting is not page.signed_in:
        _record(page, "ExitRole", page.acting, {"RedirectTo": PREFIX + "/"})
    response = Response.redirect(PREFIX + "/")
    response.delete_cookie(ROLE_COOKIE, secure=page.request.secure)
    response.delete_cookie(ROLE_DISPLAY_COOKIE, secure=page.request.secure)
    return response


def _record(page: Page, name: Literal["SwitchRole", "ExitRole"], role: Identity, additional: dict[str, str]) -> None:
    request, now = page.request, page.runtime.clock.now()
    event = signin_event(name, role.caller, request.source_ip, request.headers.get("user-agent", ""), now, additional=additional)
    page.app.audit.submit(event)


def _switched(page: Page, signed_in: Identity, role: Identity, target: Target) -> Response:
    now = page.runtime.clock.now()
    secure = page.request.secure
    seconds = max(0, int((role.expires_at - now).total_seconds()))
    history = remember(_recent(page, signed_in), target, signed_in.caller.arn)
    response = Response.redirect(PREFIX + "/")
    response.set_cookie(ROLE_COOKIE, role.cookie, secure=secure, max_age=seconds)
    note = seal_note(page.runtime, ROLE_DISPLAY_PURPOSE, display_note(target, signed_in, role), role.expires_at)
    response.set_cookie(ROLE_DISPLAY_COOKIE, note, secure=secure, max_age=seconds)
    kept = seal_note(page.runtime, RECENT_PURPOSE, history, now + dt.timedelta(seconds=RECENT_SECONDS))
    response.set_cookie(RECENT_COOKIE, kept, secure=secure, max_age=RECENT_SECONDS)
    return response


def _form(page: Page, typed: Target, *, error: str, status: int = 200) -> Response:
    signed_in = page.signed_in
    assert signed_in is not None  # INVARIANT: not a public route
    return page.render(
        "switchrole.html",
        status=status,
        typed=typed,
        error=error,
        palette=PALETTE,
        recent=_recent(page, signed_in),
        switched=page.acting is not signed_in,
        back_to=signed_in.caller.name or "root",
    )


def _recent(page: Page, signed_in: Identity) -> list[Target]:
    note = open_note(page.runtime, RECENT_PURPOSE, page.request.cookies.get(RECENT_COOKIE), page.runtime.clock.now())
    return recent_targets(note, signed_in.caller.arn)


def _account_of_alias(page: Page, alias: str) -> str | None:
    """The account an alias names (as the sign-in page resolves it), or None."""
    found = find_account(page.runtime, alias)
    return found.account_id if found is not None and found.exists else None

"""Sign-in, its MFA and new-password steps, and sign-out (``tessera.console.signin``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from tessera.console import signin
from tessera.console.calls import Api
from tessera.console.page import Page, route
from tessera.console.session import (
    COOKIE,
    COOKIES,
    PENDING_COOKIE,
    PENDING_PURPOSE,
    PENDING_SECONDS,
    ROLE_COOKIE,
    ROLE_DISPLAY_COOKIE,
    Identity,
    identity_from_credentials,
    open_note,
    read_identity,
    seal_note,
)
from tessera.console.web import PREFIX, Response
from tessera.errors import TesseraError
from tessera.services import records as R
from tessera.services.runtime import Runtime
from tessera.store.base import BackendError


def _next(value: str) -> str:
    """Where to go after signing in: a console path, never another site."""
    if (
        value.startswith(PREFIX + "/")
        and "\\" not in value
        and "/signin" not in value
        and all(" " < c < "\x7f" for c in value)  # no control characters, spaces or non-ASCII
    ):
        return value
    return PREFIX + "/"


@route("GET", "/signin", public=True)
def signin_form(page: Page) -> Response:
    if read_identity(page.runtime, page.request.cookies.get(COOKIE)) is not None:
        return Response.redirect(_next(page.request.arg("next")))
    return page.render("signin.html", error="", account=page.request.arg("account"), user="", root=False, next=page.request.arg("next"))


@route("POST", "/signin", public=True)
def signin_submit(page: Page) -> Response:
    request = page.request
    root = request.field("kind") == "root"
    account, user, nxt = request.field("account").strip(), request.field("user").strip(), request.field("next")
    now = page.runtime.clock.now()
    step, who = signin.check_password(
        page.runtime,
        page.app.audit.submit,
        account_text=account,
        user_name=user,
        root=root,
        password=request.field("password"),
        source_ip=request.source_ip,
        user_agent=request.headers.get("user-agent", ""),
        now=now,
    )
    if step.kind == "refused" or who is None:
        return page.render("signin.html", status=step.status, error=step.message, account=account, user=user, root=root, next=nxt)
    if step.kind == "mfa":
        note = {
            "stage": "mfa",
            "account": who.account.account_id,
            "user_id": who.caller.user_id,
            "changed": step.password_changed,
            "next": nxt,
        }
        response = Response.redirect(PREFIX + "/signin/mfa")
        _set_pending(page, response, note, now)
        return response
    return _opened(page, step, nxt, now)


@route("GET", "/signin/mfa", public=True)
def mfa_form(page: Page) -> Response:
    pending, who = _pending_mfa(page)
    if pending is None or who is None:
        return Response.redirect(PREFIX + "/signin")
    return page.render("signin_mfa.html", error="", devices=signin.mfa_devices(who), user=who.caller.name)


@route("POST", "/signin/mfa", public=True)
def mfa_submit(page: Page) -> Response:
    pending, who = _pending_mfa(page)
    if pending is None or who is None:
        return Response.redirect(PREFIX + "/signin")
    request = page.request
    now = page.runtime.clock.now()
    devices = signin.mfa_devices(who)
    serial = request.field("device") or (devices[0] if devices else "")
    step = signin.check_mfa(
        page.runtime,
        page.app.audit.submit,
        who,
        serial,
        request.field("code").strip(),
        source_ip=request.source_ip,
        user_agent=request.headers.get("user-agent", ""),
        now=now,
        password_changed=str(pending.get("changed") or "") or None,
    )
    if step.kind == "refused":
        return page.render("signin_mfa.html", status=step.status, error=step.message, devices=devices, user=who.caller.name)
    return _opened(page, step, str(pending.get("next", "")), now)


@route("GET", "/signin/password", public=True)
def password_form(page: Page) -> Response:
    pending = _pending(page, "password")
    if pending is None:
        return Response.redirect(PREFIX + "/signin")
    return page.render("signin_password.html", error="", policy=_policy_text(page.runtime, pending))


@route("POST", "/signin/password", public=True)
def password_submit(page: Page) -> Response:
    pending = _pending(page, "password")
    identity = identity_from_credentials(page.runtime, pending["credentials"]) if pending is not None else None
    if pending is None or identity is None:
        return Response.redirect(PREFIX + "/signin")
    request = page.request
    new, again = request.field("new_password"), request.field("confirm_password")
    error = ""
    if new != again:
        error = "The new passwords do not match."
    else:
        api = Api(page.app, identity.caller, request.source_ip, request.headers.get("user-agent", ""), request.secure)
        try:
            api.iam("ChangePassword", OldPassword=request.field("old_password"), NewPassword=new)
        except TesseraError as failure:
            error = failure.message or failure.code
    if error:
        return page.render("signin_password.html", status=400, error=error, policy=_policy_text(page.runtime, pending))
    response = Response.redirect(_next(str(pending.get("next", ""))))
    response.set_cookie(COOKIE, identity.cookie, secure=request.secure, max_age=_seconds_left(identity.expires_at, page))
    response.delete_cookie(PENDING_COOKIE, secure=request.secure)
    return response


@route("POST", "/signout")
def signout(page: Page) -> Response:
    """End the console session (and the role session it switched into) everywhere."""
    request = page.request
    # the role session first: should the second write fail, signing out again still
    # finds the console session, while a role session left behind would no longer be seen
    ended = [page.acting] if page.acting is not None and page.acting is not page.signed_in else []
    for identity in [*ended, *([page.signed_in] if page.signed_in is not None else [])]:
        _sign_out(page.runtime, identity, request.source_ip, request.headers.get("user-agent", ""))
    response = Response.redirect(PREFIX + "/signin")
    for name in COOKIES:
        response.delete_cookie(name, secure=page.request.secure)
    return response


def _sign_out(runtime: Runtime, identity: Identity, source_ip: str, user_agent: str) -> None:
    """Record the sign-out (every node refuses the session from then on), with its
    ``ConsoleLogout`` event, and forget the sign-outs of sessions that have expired since."""
    now = runtime.clock.now()
    account, access_key_id, expires_at = identity.caller.account, identity.access_key_id, identity.expires_at
    event = signin.signin_event("ConsoleLogout", identity.caller, source_ip, user_agent, now)
    state = runtime.view.account(account)
    stale = [key for key, rec in (state.console_signouts.items() if state is not None else ()) if rec["expires"] <= _iso(now)]
    try:
        with runtime.store.write(account) as tx:
            rec: R.ConsoleSignoutRecord = {"expires": _iso(expires_at)}
            tx.put(account, R.CONSOLE_SIGNOUT, access_key_id, rec)
            for key in stale[:100]:
                if tx.get(account, R.CONSOLE_SIGNOUT, key) is not None:
                    tx.delete(account, R.CONSOLE_SIGNOUT, key)
            tx.append_audit([event])
        runtime.view.refresh_committed((account,))
    except BackendError as error:
        raise TesseraError("The sign-out could not be recorded; try again.") from error


def _opened(page: Page, step: signin.Step, nxt: str, now: dt.datetime) -> Response:
    """Hand out the session of a finished sign-in, or ask for the new password first."""
    request = page.request
    assert step.credentials is not None
    if step.kind == "new-password":
        response = Response.redirect(PREFIX + "/signin/password")
        _set_pending(page, response, {"stage": "password", "credentials": _wire(step.credentials), "next": nxt}, now)
        return response
    identity = identity_from_credentials(page.runtime, _wire(step.credentials))
    if identity is None:
        return page.render("signin.html", status=401, error=signin.WRONG, account="", user="", root=False, next=nxt)
    response = Response.redirect(_next(nxt))
    response.set_cookie(COOKIE, identity.cookie, secure=request.secure, max_age=_seconds_left(identity.expires_at, page))
    response.delete_cookie(PENDING_COOKIE, secure=request.secure)
    response.delete_cookie(ROLE_COOKIE, secure=request.secure)
    response.delete_cookie(ROLE_DISPLAY_COOKIE, secure=request.secure)
    return response


def _wire(credentials: Mapping[str, Any]) -> dict[str, Any]:
    return {"AccessKeyId": credentials["AccessKeyId"], "SessionToken": credentials["SessionToken"]}


def _set_pending(page: Page, response: Response, note: dict[str, Any], now: dt.datetime) -> None:
    value = seal_note(page.runtime, PENDING_PURPOSE, note, now + dt.timedelta(seconds=PENDING_SECONDS))
    response.set_cookie(PENDING_COOKIE, value, secure=page.request.secure, max_age=PENDING_SECONDS)


def _pending(page: Page, stage: str) -> dict[str, Any] | None:
    note = open_note(page.runtime, PENDING_PURPOSE, page.request.cookies.get(PENDING_COOKIE), page.runtime.clock.now())
    return note if note is not None and note.get("stage") == stage else None


def _pending_mfa(page: Page) -> tuple[dict[str, Any] | None, signin.Who | None]:
    note = _pending(page, "mfa")
    if note is None:
        return None, None
    account = page.runtime.view.account(str(note.get("account", "")))
    user = account.users_by_id.get(str(note.get("user_id", ""))) if account is not None else None
    if account is None or user is None:
        return None, None
    return note, signin.find_principal(page.runtime, account.account_id, user["name"], root=False)


def _policy_text(runtime: Runtime, pending: Mapping[str, Any]) -> list[str]:
    """The account's password rules, as the new-password form lists them."""
    identity = identity_from_credentials(runtime, pending["credentials"])
    state = runtime.view.account(identity.caller.account) if identity is not None else None
    policy = state.password_policy if state is not None else None
    if policy is None:
        return ["At least 8 characters, with three of: upper-case letters, lower-case letters, numbers, symbols."]
    rules = [f"At least {policy['minimum_length']} characters."]
    for flag, text in (
        ("require_uppercase", "an upper-case letter"),
        ("require_lowercase", "a lower-case letter"),
        ("require_numbers", "a number"),
        ("require_symbols", "a symbol"),
    ):
        if policy.get(flag):
            rules.append(f"At least {text}.")
    if policy.get("reuse_prevention"):
        rules.append(f"Not one of your last {policy['reuse_prevention']} passwords.")
    return rules


def _seconds_left(expires_at: dt.datetime, page: Page) -> int:
    return max(0, int((expires_at - page.runtime.clock.now()).total_seconds()))


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

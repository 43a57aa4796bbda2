"""Roles: the list with a create form, and each role's page (summary, trust policy,
permissions, tags, who can assume it, its sessions and their revocation, deletion).

Every read and write is an API call as the signed-in principal; a section whose call is
refused shows AWS's message in its place.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from tessera.arn import Arn
from tessera.console.assumers import ACTION, UNKNOWN, Outside, Verdict, outside_principals, role_verdict, trust_policy, user_verdict
from tessera.console.page import Page, route, url
from tessera.console.pages.principals import attempt
from tessera.console.policy_lines import locate, numbered
from tessera.console.web import Response
from tessera.errors import TesseraError
from tessera.policy import PolicyType
from tessera.services.revocation import REVOKE_POLICY_NAME, revoke_policy, revoked_before

MAX_ANALYSED = 100
"""The most users and roles the page simulates for "who can assume this role"."""


def same_account_trust(account: str) -> str:
    """The create form's starting trust policy: principals of this account whose own
    policies allow them to assume the role."""
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}],
    }
    return json.dumps(document, indent=2)


# -- the list -------------------------------------------------------------------------
@route("GET", "/roles")
def roles(page: Page) -> Response:
    if page.request.arg("done") == "deleted":  # a fixed message: a link cannot make the page say anything else
        page.flash.append("Role deleted.")
    return _list(page, {})


@route("POST", "/roles")
def create_role(page: Page) -> Response:
    form = {name: page.request.field(name) for name in ("name", "trust", "description", "max_session", "policy_arn")}
    params: dict[str, Any] = {"RoleName": form["name"], "AssumeRolePolicyDocument": form["trust"]}
    if form["description"]:
        params["Description"] = form["description"]
    try:
        if form["max_session"]:
            params["MaxSessionDuration"] = int(form["max_session"])
        page.api.iam("CreateRole", **params)
    except ValueError:
        return _list(page, form, "Maximum session duration must be a number of seconds.", status=400)
    except TesseraError as error:
        return _list(page, form, error.message, status=error.status)
    if form["policy_arn"]:
        _, refused = attempt(lambda: page.api.iam("AttachRolePolicy", RoleName=form["name"], PolicyArn=form["policy_arn"]))
        if refused:
            return _role(page, form["name"], flash=f"Role {form['name']} created; the policy was not attached: {refused}")
    return Response.redirect(url("roles", form["name"]))


def _list(page: Page, form: dict[str, str], error: str = "", status: int = 200) -> Response:
    api = page.api
    account = api.sts("GetCallerIdentity")["Account"]
    items = api.pages("iam", "ListRoles", "Roles")
    rows = [{**item, "RoleLastUsed": _last_used(page, item["RoleName"])} for item in items]
    values = {"name": "", "trust": same_account_trust(account), "description": "", "max_session": "3600", "policy_arn": ""}
    values.update({k: v for k, v in form.items() if k in values})
    return page.render("roles_list.html", status=status, rows=rows, form=values, error=error)


def _last_used(page: Page, name: str) -> dict[str, Any]:
    """RoleLastUsed, which only GetRole returns ({} when GetRole is refused)."""
    try:
        last: dict[str, Any] = page.api.iam("GetRole", RoleName=name)["Role"].get("RoleLastUsed") or {}
    except TesseraError:
        return {}
    return last


# -- one role -------------------------------------------------------------------------
@dataclass
class Edit:
    """What a failed form on the role page sends back: its message and the text typed."""

    section: str = ""
    message: str = ""
    values: dict[str, str] = field(default_factory=dict)


@route("GET", "/roles/{name}")
def role(page: Page, name: str) -> Response:
    return _role(page, name, flash=DONE.get(page.request.arg("done"), ""))


def _role(page: Page, name: str, edit: Edit | None = None, status: int = 200, flash: str = "") -> Response:
    api = page.api
    edit = edit or Edit()
    info = api.iam("GetRole", RoleName=name)["Role"]
    trust_text = edit.values.get("trust", info["AssumeRolePolicyDocument"])
    location = locate(edit.message, trust_text, PolicyType.TRUST) if edit.section == "trust" else None
    attached, attached_error = attempt(lambda: api.pages("iam", "ListAttachedRolePolicies", "AttachedPolicies", RoleName=name))
    inline, inline_error = _inline_policies(page, name)
    revoked = revoked_before(json.loads(inline[REVOKE_POLICY_NAME])) if inline and REVOKE_POLICY_NAME in inline else None
    assumers, outside, assumers_error = _assumers(page, info)
    if flash:
        page.flash.append(flash)
    return page.render(
        "roles_role.html",
        status=status,
        role=info,
        edit=edit,
        trust_text=trust_text,
        trust_lines=numbered(trust_text),
        location=location,
        attached=attached or [],
        attached_error=attached_error,
        inline=inline or {},
        inline_error=inline_error,
        revoked=revoked,
        revoke_name=REVOKE_POLICY_NAME,
        assumers=assumers,
        outside=outside,
        assumers_error=assumers_error,
        max_analysed=MAX_ANALYSED,
    )


def _inline_policies(page: Page, name: str) -> tuple[dict[str, str] | None, str]:
    def read() -> dict[str, str]:
        names = page.api.pages("iam", "ListRolePolicies", "PolicyNames", RoleName=name)
        return {n: page.api.iam("GetRolePolicy", RoleName=name, PolicyName=n)["PolicyDocument"] for n in names}

    return attempt(read)


def _assumers(page: Page, info: dict[str, Any]) -> tuple[list[tuple[str, str, Verdict]], list[Outside], str]:
    """Each user and role of the account with its verdict, and the trust policy's
    principals outside the account; or the refusal that stopped the analysis."""
    document = info["AssumeRolePolicyDocument"]
    arn = str(info["Arn"])
    parsed = Arn.parse(arn)
    account = parsed.account if parsed is not None else ""
    outside = outside_principals(document, account)
    trust = trust_policy(document)
    try:
        users = page.api.pages("iam", "ListUsers", "Users")
        roles = page.api.pages("iam", "ListRoles", "Roles")
    except TesseraError as error:
        return [], outside, error.message
    verdicts: list[tuple[str, str, Verdict]] = []
    for user in users[:MAX_ANALYSED]:
        try:
            verdict = user_verdict(_simulate(page, user["Arn"], arn, ResourcePolicy=document))
        except TesseraError as error:  # this user's policies are not the signed-in principal's to see
            verdict = Verdict(UNKNOWN, error.message)
        verdicts.append(("user", user["Arn"], verdict))
    for other in roles[: max(0, MAX_ANALYSED - len(users))]:
        if trust is None:  # a stored trust policy the engine cannot read: nothing to judge by
            break
        try:
            verdict = role_verdict(trust, arn, other, _simulate(page, other["Arn"], arn))
        except TesseraError as error:
            verdict = Verdict(UNKNOWN, error.message)
        verdicts.append(("role", other["Arn"], verdict))
    return verdicts, outside, ""


def _simulate(page: Page, source: str, role_arn: str, **params: Any) -> dict[str, Any]:
    results = page.api.iam("SimulatePrincipalPolicy", PolicySourceArn=source, ActionNames=[ACTION], ResourceArns=[role_arn], **params)
    result: dict[str, Any] = results["EvaluationResults"][0]
    return result


# -- edits ----------------------------------------------------------------------------
DONE = {
    "trust": "Trust policy updated.",
    "settings": "Role settings updated.",
    "attached": "Policy attached.",
    "detached": "Policy detached.",
    "inline": "Inline policy saved.",
    "inline-deleted": "Inline policy deleted.",
    "tagged": "Tag saved.",
    "untagged": "Tag removed.",
    "revoked": "Sessions issued before now are revoked.",
}


@dataclass(frozen=True)
class RoleEdit:
    """A form of the role page that makes one change: ``operation`` with ``params(page)``
    (read from the form); done, back to the role page saying ``DONE[done]``; refused, the
    page again with the API's message at ``section`` and what was typed in ``kept``."""

    section: str
    done: str
    operation: str
    params: Callable[[Page], dict[str, Any]]
    kept: tuple[str, ...] = ()


def _edit(page: Page, name: str, section: str, done: str, values: dict[str, str], operation: str, **params: Any) -> Response:
    """Make one change; back to the role page saying ``DONE[done]``, or the form again
    with the API's message and what was typed."""
    try:
        page.api.iam(operation, RoleName=name, **params)
    except TesseraError as error:
        return _role(page, name, Edit(section, error.message, values), status=error.status)
    return Response.redirect(url("roles", name, done=done))


def _form_edit(edit: RoleEdit, page: Page, name: str) -> Response:
    values = {field_name: page.request.field(field_name) for field_name in edit.kept}
    return _edit(page, name, edit.section, edit.done, values, edit.operation, **edit.params(page))


def _fields(page: Page, **params: str) -> dict[str, str]:
    """The API's parameters named after the form's fields: {param: field's value}."""
    return {param: page.request.field(field_name) for param, field_name in params.items()}


EDITS = {
    "trust": RoleEdit("trust", "trust", "UpdateAssumeRolePolicy", lambda page: _fields(page, PolicyDocument="trust"), ("trust",)),
    "attach": RoleEdit("attach", "attached", "AttachRolePolicy", lambda page: _fields(page, PolicyArn="policy_arn"), ("policy_arn",)),
    "detach": RoleEdit("attached", "detached", "DetachRolePolicy", lambda page: _fields(page, PolicyArn="policy_arn")),
    "inline": RoleEdit(
        "inline",
        "inline",
        "PutRolePolicy",
        lambda page: _fields(page, PolicyName="policy_name", PolicyDocument="document"),
        ("policy_name", "document"),
    ),
    "inline/delete": RoleEdit("inline-list", "inline-deleted", "DeleteRolePolicy", lambda page: _fields(page, PolicyName="policy_name")),
    "tags": RoleEdit(
        "tags",
        "tagged",
        "TagRole",
        lambda page: {"Tags": [{"Key": page.request.field("key"), "Value": page.request.field("value")}]},
        ("key", "value"),
    ),
    "untag": RoleEdit("tag-list", "untagged", "UntagRole", lambda page: {"TagKeys": [page.request.field("key")]}),
    # AWS's "Revoke active sessions": deny everything to sessions issued before now
    "revoke": RoleEdit(
        "sessions",
        "revoked",
        "PutRolePolicy",
        lambda page: {"PolicyName": REVOKE_POLICY_NAME, "PolicyDocument": revoke_policy(page.runtime.clock.now())},
    ),
}
"""The path under ``/roles/{name}/`` a form posts to → its change."""

for _path, _edit_form in EDITS.items():
    route("POST", f"/roles/{{name}}/{_path}")(partial(_form_edit, _edit_form))


@route("POST", "/roles/{name}/settings")
def update_settings(page: Page, name: str) -> Response:
    description, seconds = page.request.field("description"), page.request.field("max_session")
    values = {"description": description, "max_session": seconds}
    if not seconds.isdigit():
        return _role(page, name, Edit("settings", "Maximum session duration must be a number of seconds.", values), status=400)
    return _edit(page, name, "settings", "settings", values, "UpdateRole", Description=description, MaxSessionDuration=int(seconds))


@route("POST", "/roles/{name}/delete")
def delete(page: Page, name: str) -> Response:
    try:
        page.api.iam("DeleteRole", RoleName=name)
    except TesseraError as error:
        return _role(page, name, Edit("delete", error.message), status=error.status)
    return Response.redirect(url("roles", done="deleted"))

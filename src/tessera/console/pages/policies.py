"""Managed policies: the list (customer managed, AWS managed), the create form, and one
policy's page (summary, default document, versions with a diff, attachments).

Every figure comes from IAM's API as the signed-in principal: ListPolicies, CreatePolicy,
GetPolicy, GetPolicyVersion, ListPolicyVersions, ListEntitiesForPolicy, and for the
page's forms CreatePolicyVersion, SetDefaultPolicyVersion, DeletePolicyVersion,
Detach{User,Group,Role}Policy and DeletePolicy. A policy's page is
``/policies/<its ARN>`` (the ARN as one quoted segment; the path is read decoded).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tessera.console.diff import diff_documents, pretty_json
from tessera.console.page import Page, route, url
from tessera.console.web import Response
from tessera.errors import InvalidInputException, TesseraError

SCOPES = {"Local": "Customer managed", "AWS": "AWS managed", "All": "All"}
KINDS = {"Local": "customer managed policies", "AWS": "AWS managed policies", "All": "managed policies"}
PER_PAGE = 100
LIST_CHUNK = 1000  # ListPolicies' largest MaxItems: the ~1 400 AWS managed policies in two calls
DONE = {
    "created": "The policy was created.",
    "version": "The new version was created.",
    "default": "The default version was changed.",
    "deleted-version": "The version was deleted.",
    "detached": "The policy was detached.",
    "deleted": "The policy was deleted.",
}
"""The messages a redirect after a change may show (``?done=``): fixed texts only."""
DETACH = {"user": ("DetachUserPolicy", "UserName"), "group": ("DetachGroupPolicy", "GroupName"), "role": ("DetachRolePolicy", "RoleName")}


@dataclass(frozen=True)
class Slice:
    """One page of a list shown ``size`` at a time."""

    items: list[Any]
    number: int  # 1-based
    pages: int
    total: int


def page_of(items: Sequence[Any], number: int, size: int = PER_PAGE) -> Slice:
    pages = max(1, -(-len(items) // size))
    number = min(max(1, number), pages)
    return Slice(list(items[(number - 1) * size : number * size]), number, pages, len(items))


def named_like(items: Sequence[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """The policies whose name contains ``text``, ignoring case (as the AWS console's
    search box filters): the one of that very name first, then those that start with it,
    then the others, each in the order given."""
    needle = text.casefold()
    found = [(str(item["PolicyName"]).casefold(), item) for item in items]
    return [item for name, item in sorted(found, key=lambda pair: (pair[0] != needle, not pair[0].startswith(needle))) if needle in name]


# -- the list and the create form ------------------------------------------------------
@route("GET", "/policies")
def policies(page: Page) -> Response:
    arg = page.request.arg
    scope = arg("scope") if arg("scope") in SCOPES else "Local"
    name, attached = arg("name").strip(), arg("attached") == "1"
    params: dict[str, Any] = {"Scope": scope, "MaxItems": LIST_CHUNK}
    if attached:
        params["OnlyAttached"] = True
    found = page.api.pages("iam", "ListPolicies", "Policies", **params)
    found.sort(key=lambda item: str(item["PolicyName"]).casefold())
    shown = page_of(named_like(found, name) if name else found, _number(arg("page")))
    query = {"scope": scope, "name": name, **({"attached": "1"} if attached else {})}
    _done(page)
    return page.render(
        "policies_list.html", listing=shown, scope=scope, scopes=SCOPES, kind=KINDS[scope], name=name, attached=attached, query=query
    )


@route("GET", "/policies/new")
def new_policy(page: Page) -> Response:
    return page.render("policies_new.html", typed={"name": "", "path": "/", "description": "", "document": _TEMPLATE}, error=None)


@route("POST", "/policies/new")
def create_policy(page: Page) -> Response:
    field = page.request.field
    typed = {
        "name": field("name").strip(),
        "path": field("path").strip() or "/",
        "description": field("description"),
        "document": field("document"),
    }
    params = {"PolicyName": typed["name"], "Path": typed["path"], "PolicyDocument": typed["document"]}
    if typed["description"]:
        params["Description"] = typed["description"]
    try:
        created = page.api.iam("CreatePolicy", **params)["Policy"]
    except TesseraError as error:
        return page.render("policies_new.html", status=error.status, typed=typed, error=error)
    return Response.redirect(url("policies", created["Arn"], done="created"))


_TEMPLATE = pretty_json('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "", "Resource": "*"}]}')


# -- one policy --------------------------------------------------------------------------
@route("GET", "/policies/{arn:path}")
def policy(page: Page, arn: str) -> Response:
    _done(page)
    return _policy_page(page, arn)


@route("POST", "/policies/{arn:path}")
def change_policy(page: Page, arn: str) -> Response:
    action = page.request.field("action")
    change = _ACTIONS.get(action)
    if change is None:
        return _policy_page(page, arn, errors={"page": f"Unknown action '{action}'."}, status=400)
    try:
        done = change(page, arn)
    except TesseraError as error:
        return _policy_page(page, arn, errors={action: error}, status=error.status)
    if done == "deleted":
        return Response.redirect(url("policies", done="deleted"))
    return Response.redirect(url("policies", arn, done=done))


def _create_version(page: Page, arn: str) -> str:
    default = page.request.field("default") == "1"
    page.api.iam("CreatePolicyVersion", PolicyArn=arn, PolicyDocument=page.request.field("document"), SetAsDefault=default)
    return "version"


def _set_default(page: Page, arn: str) -> str:
    page.api.iam("SetDefaultPolicyVersion", PolicyArn=arn, VersionId=page.request.field("version"))
    return "default"


def _delete_version(page: Page, arn: str) -> str:
    page.api.iam("DeletePolicyVersion", PolicyArn=arn, VersionId=page.request.field("version"))
    return "deleted-version"


def _detach(page: Page, arn: str) -> str:
    kind = page.request.field("kind")
    if kind not in DETACH:
        raise InvalidInputException(f"Cannot detach a policy from a '{kind}': only from a user, a group or a role.")
    operation, member = DETACH[kind]
    page.api.iam(operation, PolicyArn=arn, **{member: page.request.field("name")})
    return "detached"


def _delete(page: Page, arn: str) -> str:
    page.api.iam("DeletePolicy", PolicyArn=arn)
    return "deleted"


_ACTIONS: dict[str, Callable[[Page, str], str]] = {
    "create-version": _create_version,
    "set-default": _set_default,
    "delete-version": _delete_version,
    "detach": _detach,
    "delete": _delete,
}


def _policy_page(page: Page, arn: str, errors: dict[str, Any] | None = None, status: int = 200) -> Response:
    """The policy's page; ``errors`` maps a form's action to the error it met (shown on
    that form, with what was typed)."""
    found = page.api.iam("GetPolicy", PolicyArn=arn)["Policy"]
    arn = found["Arn"]
    document, document_error = _document(page, arn, found["DefaultVersionId"])
    versions, versions_error = _panel(lambda: page.api.pages("iam", "ListPolicyVersions", "Versions", PolicyArn=arn))
    attached, attached_error = _panel(lambda: _entities(page, arn))
    typed = page.request.field("document") if page.request.method == "POST" else ""
    return page.render(
        "policies_policy.html",
        status=status,
        policy=found,
        document=pretty_json(document) if document else "",
        document_error=document_error,
        versions=versions or [],
        versions_error=versions_error,
        comparison=_comparison(page, arn, versions or []),
        attached=attached or [],
        attached_error=attached_error,
        errors=errors or {},
        typed=typed or (pretty_json(document) if document else ""),
        aws_managed=arn.startswith("arn:aws:iam::aws:"),
    )


def _document(page: Page, arn: str, version: str) -> tuple[str, str]:
    try:
        return str(page.api.iam("GetPolicyVersion", PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]), ""
    except TesseraError as error:
        return "", error.message


def _entities(page: Page, arn: str) -> list[dict[str, str]]:
    """Every user, group and role the policy is attached to (ListEntitiesForPolicy)."""
    rows: list[dict[str, str]] = []
    params: dict[str, Any] = {"PolicyArn": arn}
    while True:
        result = page.api.iam("ListEntitiesForPolicy", **params)
        for kind, key, member in (
            ("group", "PolicyGroups", "GroupName"),
            ("user", "PolicyUsers", "UserName"),
            ("role", "PolicyRoles", "RoleName"),
        ):
            rows += [{"kind": kind, "name": str(entity[member])} for entity in result.get(key, [])]
        if not (result.get("IsTruncated") and result.get("Marker")):
            return rows
        params["Marker"] = result["Marker"]


@dataclass(frozen=True)
class Comparison:
    old: str
    new: str
    diff: Any  # tessera.console.diff.Diff, or None when it could not be made
    error: str


def _comparison(page: Page, arn: str, versions: list[dict[str, Any]]) -> Comparison | None:
    """The diff asked for (``?from=&to=``), by default from the version before the
    newest to the newest; None with fewer than two versions."""
    ids = [str(version["VersionId"]) for version in versions]  # newest first
    if len(ids) < 2:
        return None
    old, new = page.request.arg("from", ids[1]), page.request.arg("to", ids[0])
    try:
        texts = [page.api.iam("GetPolicyVersion", PolicyArn=arn, VersionId=v)["PolicyVersion"]["Document"] for v in (old, new)]
    except TesseraError as error:
        return Comparison(old, new, None, error.message)
    return Comparison(old, new, diff_documents(str(texts[0]), str(texts[1])), "")


def _panel(read: Callable[[], Any]) -> tuple[Any, str]:
    """``read()``'s result, or AWS's message when it is refused."""
    try:
        return read(), ""
    except TesseraError as error:
        return None, error.message


def _done(page: Page) -> None:
    message = DONE.get(page.request.arg("done"))
    if message:
        page.flash.append(message)


def _number(text: str) -> int:
    return int(text) if text.isdigit() and len(text) < 6 else 1

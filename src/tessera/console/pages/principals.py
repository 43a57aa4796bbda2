"""What the users' and the groups' pages share: a page of their list, the create form, a
membership edit (a user added to or removed from a group, from either side) and the POST
of a principal's page, whose ``action`` field names the edit.

Done, that POST redirects back to the page, which says what was done (``flash``);
refused, it answers with the page showing AWS's error in the panel of the form that
failed, the form keeping what was typed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from tessera.console.calls import Api
from tessera.console.page import Page, route, url
from tessera.console.pages import flash
from tessera.console.pages.principal_policies import Target
from tessera.console.web import Request, Response
from tessera.errors import TesseraError

LIST_PAGE_SIZE = 100
"""Users or groups per page of the list: each row costs one more call, so a page stays a
bounded amount of work."""

T = TypeVar("T")


def attempt(call: Callable[[], T]) -> tuple[T | None, str]:
    """``call()``'s value and ""; or None and AWS's message when it is refused."""
    try:
        return call(), ""
    except TesseraError as error:
        return None, error.message


@dataclass
class Done:
    message: str
    new_key: dict[str, Any] | None = None  # CreateAccessKey's key, secret included, shown once
    location: str = ""  # where to go next, if not back to the page


Edit = Callable[[Api, str, Request], "str | Done"]
"""One edit of a principal's page: the API, the principal's name and the form → what was
done."""


Rows = Callable[[Api, list[dict[str, Any]]], tuple[list[dict[str, Any]], str]]
"""A list's principals → the table's rows (more calls per principal) and the first
refusal's message."""


def render_list(
    page: Page, kind: str, rows_of: Rows, *, error: str = "", status: int = 200, typed: Callable[[str], str] | None = None
) -> Response:
    """The list of ``kind``s ("User" or "Group"): List{kind}s from the request's
    ``marker``, its rows (``rows_of``), the link to the next page and the create form
    (refused: ``error`` and what was ``typed``)."""
    params: dict[str, Any] = {"MaxItems": LIST_PAGE_SIZE}
    if page.request.arg("marker"):
        params["Marker"] = page.request.arg("marker")
    listed = page.api.iam(f"List{kind}s", **params)
    rows, row_error = rows_of(page.api, listed.get(f"{kind}s", []))
    return page.render(
        f"{kind.lower()}s_list.html",
        status=status,
        rows=rows,
        row_error=row_error,
        following=listed.get("Marker", "") if listed.get("IsTruncated") else "",
        error=error,
        typed=typed or (lambda _name: ""),
    )


def create(page: Page, kind: str) -> str:
    """Create{kind} (``kind`` "User" or "Group") with the form's name and optional path;
    the name."""
    request = page.request
    name = request.field(f"{kind.lower()}_name").strip()
    params: dict[str, Any] = {f"{kind}Name": name}
    if request.field("path").strip():
        params["Path"] = request.field("path").strip()
    page.api.iam(f"Create{kind}", **params)
    return name


def membership(kind: str, *, add: bool) -> Edit:
    """AddUserToGroup (or RemoveUserFromGroup) from the page of a ``kind`` ("User" or
    "Group"), the form naming the principal of the other kind."""
    other_kind = "Group" if kind == "User" else "User"

    def change(api: Api, name: str, request: Request) -> str:
        other = request.field(f"{other_kind.lower()}_name")
        api.iam("AddUserToGroup" if add else "RemoveUserFromGroup", **Target(kind, name).param, **Target(other_kind, other).param)
        user, group = (name, other) if kind == "User" else (other, name)
        return f"Added {user} to {group}." if add else f"Removed {user} from {group}."

    return change


def perform(page: Page, name: str, edits: Mapping[str, tuple[str, Edit]], render: Callable[..., Response], here: str) -> Response:
    """The POST of the page of principal ``name`` (``here``): the edit ``edits`` names by
    the form's ``action`` → (the panel that shows its error, the edit). ``render(page,
    name, **values)`` answers with the page."""
    found = edits.get(page.request.field("action"))
    if found is None:
        return page.render("error.html", status=400, title="Unknown action", message="The form asked for no known change.")
    panel, change = found
    try:
        done = change(page.api, name, page.request)
    except TesseraError as error:
        return render(page, name, errors={panel: error.message}, status=error.status, typed=page.request.field)
    if isinstance(done, str):
        done = Done(done)
    if done.new_key is not None:  # its secret is shown in this answer, and never again
        page.flash.append(done.message)
        return render(page, name, new_key=done.new_key)
    return flash.redirect(page, done.location or here, done.message)


def routes(
    path: str, render_list: Callable[[Page], Response], render: Callable[..., Response], edits: Mapping[str, tuple[str, Edit]]
) -> None:
    """Register ``GET /{path}`` (the list), ``GET /{path}/{name}`` (a principal's page)
    and its ``POST``, each page showing what a redirect left for it."""
    route("GET", f"/{path}")(lambda page: flash.showing(page, lambda: render_list(page)))
    route("GET", f"/{path}/{{name}}")(lambda page, name: flash.showing(page, lambda: render(page, name)))
    route("POST", f"/{path}/{{name}}")(lambda page, name: perform(page, name, edits, render, url(path, name)))

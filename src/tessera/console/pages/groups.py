"""IAM groups: the list (with a create form) and one group's page: its members (add and
remove users), its attached and inline policies, and deleting it. As on a user's page,
a POST's ``action`` names the edit; done, it redirects back to the page, which says what
was done; refused, the answer is the page with AWS's error in the panel of the form that
failed."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from tessera.console.calls import Api
from tessera.console.page import Page, route, url
from tessera.console.pages import flash, principal_policies
from tessera.console.pages.principal_policies import Target
from tessera.console.pages.users import LIST_PAGE_SIZE, attempt
from tessera.console.web import Request, Response
from tessera.errors import TesseraError


@route("GET", "/groups")
def groups(page: Page) -> Response:
    return flash.showing(page, lambda: _render_list(page))


@route("POST", "/groups")
def create_group(page: Page) -> Response:
    request = page.request
    name = request.field("group_name").strip()
    params: dict[str, Any] = {"GroupName": name}
    if request.field("path").strip():
        params["Path"] = request.field("path").strip()
    try:
        page.api.iam("CreateGroup", **params)
    except TesseraError as error:
        return _render_list(page, error=error.message, status=error.status, typed=request.field)
    return flash.redirect(page, url("groups", name), f"Created the group {name}.")


def _render_list(page: Page, *, error: str = "", status: int = 200, typed: Callable[[str], str] | None = None) -> Response:
    api = page.api
    params: dict[str, Any] = {"MaxItems": LIST_PAGE_SIZE}
    if page.request.arg("marker"):
        params["Marker"] = page.request.arg("marker")
    listed = api.iam("ListGroups", **params)
    rows: list[dict[str, Any]] = []
    row_error = ""
    for group in listed.get("Groups", []):
        members, members_error = attempt(partial(api.pages, "iam", "GetGroup", "Users", GroupName=group["GroupName"]))
        row_error = row_error or members_error
        rows.append({**group, "members": None if members is None else len(members)})
    return page.render(
        "groups_list.html",
        status=status,
        rows=rows,
        row_error=row_error,
        following=listed.get("Marker", "") if listed.get("IsTruncated") else "",
        error=error,
        typed=typed or (lambda _name: ""),
    )


@route("GET", "/groups/{name}")
def group(page: Page, name: str) -> Response:
    return flash.showing(page, lambda: _render_group(page, name))


@route("POST", "/groups/{name}")
def group_action(page: Page, name: str) -> Response:
    action = GROUP_ACTIONS.get(page.request.field("action"))
    if action is None:
        return page.render("error.html", status=400, title="Unknown action", message="The form asked for no known change.")
    panel, change = action
    try:
        message = change(page.api, name, page.request)
    except TesseraError as error:
        return _render_group(page, name, errors={panel: error.message}, status=error.status, typed=page.request.field)
    if panel == "delete":
        return flash.redirect(page, url("groups"), message)
    return flash.redirect(page, url("groups", name), message)


def _render_group(
    page: Page, name: str, *, errors: dict[str, str] | None = None, status: int = 200, typed: Callable[[str], str] | None = None
) -> Response:
    """GetGroup (all pages: the group and its members; refused: the error page),
    ListUsers for the users that could be added, and the policies panel's calls."""
    api = page.api
    first = api.iam("GetGroup", GroupName=name)
    members = first.get("Users", [])
    if first.get("IsTruncated"):
        members = api.pages("iam", "GetGroup", "Users", GroupName=name)
    every_user, users_error = attempt(partial(api.pages, "iam", "ListUsers", "Users"))
    member_names = {member["UserName"] for member in members}
    return page.render(
        "groups_detail.html",
        status=status,
        group=first["Group"],
        form_url=url("groups", first["Group"]["GroupName"]),
        members=members,
        others=sorted(user["UserName"] for user in every_user or [] if user["UserName"] not in member_names),
        users_error=users_error,
        policies=principal_policies.load(api, Target("Group", name)),
        errors=errors or {},
        typed=typed or (lambda _name: ""),
    )


def _add_user(api: Api, name: str, request: Request) -> str:
    user = request.field("user_name")
    api.iam("AddUserToGroup", GroupName=name, UserName=user)
    return f"Added {user} to {name}."


def _remove_user(api: Api, name: str, request: Request) -> str:
    user = request.field("user_name")
    api.iam("RemoveUserFromGroup", GroupName=name, UserName=user)
    return f"Removed {user} from {name}."


def _policy_action(action: str) -> Callable[[Api, str, Request], str]:
    change = principal_policies.ACTIONS[action]
    return lambda api, name, request: change(api, Target("Group", name), request)


def _delete_group(api: Api, name: str, request: Request) -> str:
    api.iam("DeleteGroup", GroupName=name)
    return f"Deleted the group {name}."


GROUP_ACTIONS: dict[str, tuple[str, Callable[[Api, str, Request], str]]] = {
    "add-user": ("members", _add_user),
    "remove-user": ("members", _remove_user),
    **{action: ("policies", _policy_action(action)) for action in principal_policies.ACTIONS},
    "delete": ("delete", _delete_group),
}
"""``action`` field → (the panel that shows its error, the edit)."""

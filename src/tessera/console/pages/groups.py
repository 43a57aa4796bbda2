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
from tessera.console.pages import flash, principal_policies, principals
from tessera.console.pages.principal_policies import Target
from tessera.console.pages.principals import Done, Edit, attempt
from tessera.console.web import Request, Response
from tessera.errors import TesseraError


@route("POST", "/groups")
def create_group(page: Page) -> Response:
    try:
        name = principals.create(page, "Group")
    except TesseraError as error:
        return _render_list(page, error=error.message, status=error.status, typed=page.request.field)
    return flash.redirect(page, url("groups", name), f"Created the group {name}.")


def _render_list(page: Page, **shown: Any) -> Response:
    return principals.render_list(page, "Group", _list_rows, **shown)


def _list_rows(api: Api, groups: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """Each group with its number of members (GetGroup), None where the call was
    refused; and the first refusal's message."""
    rows: list[dict[str, Any]] = []
    row_error = ""
    for group in groups:
        members, members_error = attempt(partial(api.pages, "iam", "GetGroup", "Users", GroupName=group["GroupName"]))
        row_error = row_error or members_error
        rows.append({**group, "members": None if members is None else len(members)})
    return rows, row_error


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


def _delete_group(api: Api, name: str, request: Request) -> Done:
    api.iam("DeleteGroup", GroupName=name)
    return Done(f"Deleted the group {name}.", location=url("groups"))


GROUP_ACTIONS: dict[str, tuple[str, Edit]] = {
    "add-user": ("members", principals.membership("Group", add=True)),
    "remove-user": ("members", principals.membership("Group", add=False)),
    **principal_policies.page_edits("Group"),
    "delete": ("delete", _delete_group),
}
"""``action`` field → (the panel that shows its error, the edit)."""

principals.routes("groups", _render_list, _render_group, GROUP_ACTIONS)

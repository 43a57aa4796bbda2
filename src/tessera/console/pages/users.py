"""IAM users: the list (with a create form) and one user's page, with its access keys
and their last use, groups, MFA devices, policies, permissions boundary, console access
and tags, each edit one POST made as the signed-in principal.

A user's page is one GET (``user``) and one POST (``user_action``) whose ``action`` field
names the edit (``USER_ACTIONS``). Done, the POST redirects back to the page, which says
what was done (``flash``); refused, it answers with the page showing AWS's error in the
panel of the form that failed, the form keeping what was typed (passwords excepted). A
new access key is the exception: its answer is the page itself, the only one showing the
key's secret.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from tessera.console.calls import Api
from tessera.console.page import Page, route, url
from tessera.console.pages import flash, principal_policies, principals
from tessera.console.pages.principal_policies import Target
from tessera.console.pages.principals import Done, Edit, attempt
from tessera.console.web import Request, Response
from tessera.errors import NoSuchEntityException, TesseraError

# -- the list ---------------------------------------------------------------------------


@route("POST", "/users")
def create_user(page: Page) -> Response:
    """CreateUser, then CreateLoginProfile when a password was given."""
    request = page.request
    try:
        name = principals.create(page, "User")
    except TesseraError as error:
        return _render_list(page, error=error.message, status=error.status, typed=request.field)
    if request.field("password"):
        try:
            _save_login_profile(page.api, name, request, exists=False)
        except TesseraError as error:
            message = f"The user was created, but its console password was refused: {error.message}"
            return _render_user(page, name, errors={"login": message}, status=error.status)
    return flash.redirect(page, url("users", name), f"Created the user {name}.")


def _render_list(page: Page, **shown: Any) -> Response:
    return principals.render_list(page, "User", list_rows, **shown)


def list_rows(api: Api, users: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """Each user with its number of access keys (ListAccessKeys) and whether it has an
    MFA device (one ListVirtualMFADevices for the page: every device is virtual), None
    where the call was refused; and the first refusal's message."""
    devices, first_error = attempt(partial(api.pages, "iam", "ListVirtualMFADevices", "VirtualMFADevices", AssignmentStatus="Assigned"))
    with_mfa = {device["User"]["UserId"] for device in devices or [] if device.get("User")}
    rows: list[dict[str, Any]] = []
    for user in users:
        keys, keys_error = attempt(partial(api.pages, "iam", "ListAccessKeys", "AccessKeyMetadata", UserName=user["UserName"]))
        first_error = first_error or keys_error
        mfa = None if devices is None else user["UserId"] in with_mfa
        rows.append({**user, "keys": None if keys is None else len(keys), "mfa": mfa})
    return rows, first_error


# -- one user ---------------------------------------------------------------------------


@dataclass
class UserView:
    """Everything a user's page shows; each part's refusal as ``errors[part]``."""

    user: dict[str, Any]
    keys: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    other_groups: list[str] = field(default_factory=list)  # the groups it could be added to
    mfa: list[dict[str, Any]] = field(default_factory=list)
    login: dict[str, Any] | None = None
    tags: list[dict[str, str]] = field(default_factory=list)
    policies: principal_policies.Policies = field(default_factory=principal_policies.Policies)
    errors: dict[str, str] = field(default_factory=dict)


def load_user(api: Api, name: str) -> UserView:
    """GetUser (refused: the error page), then one or more calls per panel."""
    view = UserView(user=api.iam("GetUser", UserName=name)["User"])
    errors = view.errors
    keys, errors["keys"] = attempt(partial(_keys, api, name))
    groups, errors["groups"] = attempt(partial(api.pages, "iam", "ListGroupsForUser", "Groups", UserName=name))
    every_group, errors["all-groups"] = attempt(partial(api.pages, "iam", "ListGroups", "Groups"))
    mfa, errors["mfa"] = attempt(partial(api.pages, "iam", "ListMFADevices", "MFADevices", UserName=name))
    view.login, errors["login"] = attempt(partial(_login_profile, api, name))
    tags, errors["tags"] = attempt(partial(api.pages, "iam", "ListUserTags", "Tags", UserName=name))
    view.keys, view.groups, view.mfa, view.tags = keys or [], groups or [], mfa or [], tags or []
    member = {group["GroupName"] for group in view.groups}
    view.other_groups = sorted(group["GroupName"] for group in every_group or [] if group["GroupName"] not in member)
    view.policies = principal_policies.load(api, Target("User", name))
    return view


def _keys(api: Api, name: str) -> list[dict[str, Any]]:
    """ListAccessKeys, each key with GetAccessKeyLastUsed's answer (or its refusal)."""
    keys = api.pages("iam", "ListAccessKeys", "AccessKeyMetadata", UserName=name)
    for key in keys:
        used, error = attempt(partial(api.iam, "GetAccessKeyLastUsed", AccessKeyId=key["AccessKeyId"]))
        key["LastUsed"], key["LastUsedError"] = (used or {}).get("AccessKeyLastUsed", {}), error
    return keys


def _login_profile(api: Api, name: str) -> dict[str, Any] | None:
    try:
        return dict(api.iam("GetLoginProfile", UserName=name)["LoginProfile"])
    except NoSuchEntityException:
        return None


def _render_user(
    page: Page,
    name: str,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
    new_key: dict[str, Any] | None = None,
    typed: Callable[[str], str] | None = None,
) -> Response:
    view = load_user(page.api, name)
    shown = {part: message for part, message in view.errors.items() if message}
    return page.render(
        "users_detail.html",
        status=status,
        view=view,
        user=view.user,
        policies=view.policies,
        loaded=shown,
        errors=errors or {},
        new_key=new_key,
        typed=typed or (lambda _name: ""),
        form_url=url("users", view.user["UserName"]),
    )


# -- the edits: each takes the API, the user's name and the form ----------------------


def _create_key(api: Api, name: str, request: Request) -> Done:
    key = api.iam("CreateAccessKey", UserName=name)["AccessKey"]
    return Done(f"Created the access key {key['AccessKeyId']}.", new_key=key)


def _key_status(api: Api, name: str, request: Request) -> str:
    key_id, status = request.field("access_key_id"), request.field("status")
    api.iam("UpdateAccessKey", UserName=name, AccessKeyId=key_id, Status=status)
    return f"The access key {key_id} is now {status.lower()}."


def _delete_key(api: Api, name: str, request: Request) -> str:
    key_id = request.field("access_key_id")
    api.iam("DeleteAccessKey", UserName=name, AccessKeyId=key_id)
    return f"Deleted the access key {key_id}."


def _set_boundary(api: Api, name: str, request: Request) -> str:
    arn = request.field("boundary_arn").strip()
    api.iam("PutUserPermissionsBoundary", UserName=name, PermissionsBoundary=arn)
    return f"The permissions boundary is now {arn}."


def _remove_boundary(api: Api, name: str, request: Request) -> str:
    api.iam("DeleteUserPermissionsBoundary", UserName=name)
    return "Removed the permissions boundary."


def _save_login_profile(api: Api, name: str, request: Request, *, exists: bool) -> str:
    reset = request.field("require_reset") == "on"
    params: dict[str, Any] = {"UserName": name, "PasswordResetRequired": reset}
    if request.field("password") or not exists:  # an update may change only the reset flag
        params["Password"] = request.field("password")
    api.iam("UpdateLoginProfile" if exists else "CreateLoginProfile", **params)
    return "Saved the console password" + (" (to be changed at the next sign-in)." if reset else ".")


def _save_login(api: Api, name: str, request: Request) -> str:
    return _save_login_profile(api, name, request, exists=request.field("exists") == "yes")


def _delete_login(api: Api, name: str, request: Request) -> str:
    api.iam("DeleteLoginProfile", UserName=name)
    return "Removed console access: the user has no password."


def _tag(api: Api, name: str, request: Request) -> str:
    key = request.field("tag_key").strip()
    api.iam("TagUser", UserName=name, Tags=[{"Key": key, "Value": request.field("tag_value")}])
    return f"Tagged with {key}."


def _untag(api: Api, name: str, request: Request) -> str:
    key = request.field("tag_key")
    api.iam("UntagUser", UserName=name, TagKeys=[key])
    return f"Removed the tag {key}."


def _delete_user(api: Api, name: str, request: Request) -> Done:
    api.iam("DeleteUser", UserName=name)
    return Done(f"Deleted the user {name}.", location=url("users"))


USER_ACTIONS: dict[str, tuple[str, Edit]] = {
    "create-key": ("keys", _create_key),
    "key-status": ("keys", _key_status),
    "delete-key": ("keys", _delete_key),
    "add-group": ("groups", principals.membership("User", add=True)),
    "remove-group": ("groups", principals.membership("User", add=False)),
    **principal_policies.page_edits("User"),
    "set-boundary": ("boundary", _set_boundary),
    "remove-boundary": ("boundary", _remove_boundary),
    "save-login": ("login", _save_login),
    "delete-login": ("login", _delete_login),
    "tag": ("tags", _tag),
    "untag": ("tags", _untag),
    "delete": ("delete", _delete_user),
}
"""``action`` field → (the panel that shows its error, the edit)."""

principals.routes("users", _render_list, _render_user, USER_ACTIONS)

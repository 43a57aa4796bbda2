"""IAM groups and their membership.

Membership is stored on the user (``user.groups``: group names), because the request
path needs a user's groups on every authorization; a group's members are found by
scanning users, which only the rarer group operations pay for.
"""

from __future__ import annotations

from typing import Any

from tessera.errors import DeleteConflictException, NoSuchEntityException
from tessera.services import records as R
from tessera.services.iam import quotas
from tessera.services.iam.entities import (
    GROUP,
    USER,
    account_of,
    authorize_target,
    ensure_quota,
    entity_arn,
    group_shape,
    iso,
    move_entity,
    path_matches,
    refuse_delete_with_policies,
    require,
    require_resolved,
    require_target,
    resolve,
    store_errors,
    user_shape,
    view_records,
)
from tessera.services.iam.paging import paginate
from tessera.services.ids import GROUP_PREFIX, new_unique_id
from tessera.services.request import OperationContext, operation
from tessera.services.view import name_key
from tessera.store.base import Transaction


def _in_group(user: R.UserRecord, group_name: str) -> bool:
    return any(name_key(g) == name_key(group_name) for g in user["groups"])


@operation("iam", "CreateGroup")
def create_group(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account, name = account_of(ctx), params["GroupName"]
    path = params.get("Path") or "/"
    arn = entity_arn(account, R.GROUP, path, name)
    ctx.authorize("iam:CreateGroup", arn)
    with ctx.write(account) as tx:
        ensure_quota(tx.count(account, R.GROUP), quotas.GROUPS_PER_ACCOUNT, "GroupsPerAccount")
        rec: R.GroupRecord = {
            "name": name,
            "id": new_unique_id(GROUP_PREFIX),
            "path": path,
            "arn": arn,
            "created": iso(ctx.now),
            "inline_policies": {},
            "attached": [],
        }
        with store_errors(GROUP, name):
            tx.insert(account, R.GROUP, name_key(name), rec)
    return {"Group": group_shape(rec)}


@operation("iam", "GetGroup", read_only=True)
def get_group(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    target = resolve(ctx, GROUP, params["GroupName"])
    authorize_target(ctx, "iam:GetGroup", target)
    group = require_resolved(target)
    members = [u for u in view_records(ctx, R.USER) if _in_group(u, group["name"])]
    page = paginate(members, lambda u: u["name"].lower(), params.get("Marker"), params.get("MaxItems"))
    return {"Group": group_shape(group), **page.output("Users", lambda u: user_shape(u, full=False))}


@operation("iam", "ListGroups", read_only=True)
def list_groups(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    prefix = params.get("PathPrefix")
    ctx.authorize("iam:ListGroups", entity_arn(account_of(ctx), R.GROUP, prefix or "/", ""))
    groups = [g for g in view_records(ctx, R.GROUP) if path_matches(g["path"], prefix)]
    page = paginate(groups, lambda g: g["name"].lower(), params.get("Marker"), params.get("MaxItems"))
    return page.output("Groups", group_shape)


@operation("iam", "ListGroupsForUser", read_only=True)
def list_groups_for_user(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    target = resolve(ctx, USER, params["UserName"])
    authorize_target(ctx, "iam:ListGroupsForUser", target)
    user = require_resolved(target)
    state = ctx.runtime.view.account(account_of(ctx))
    groups = [g for g in (state.group(n) if state else None for n in user.get("groups", ())) if g]
    page = paginate(groups, lambda g: g["name"].lower(), params.get("Marker"), params.get("MaxItems"))
    return page.output("Groups", group_shape)


@operation("iam", "UpdateGroup")
def update_group(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    """Rename and/or move a group; member users are updated to the new name."""
    account = account_of(ctx)
    target = resolve(ctx, GROUP, params["GroupName"])
    authorize_target(ctx, "iam:UpdateGroup", target)
    with ctx.write(account) as tx:
        rec = require_target(tx, account, target)
        old_name = move_entity(ctx, tx, GROUP, "iam:UpdateGroup", rec, params.get("NewGroupName"), params.get("NewPath"))
        final_name = rec["name"]
        if final_name != old_name:
            _rename_memberships(tx, account, old_name, final_name)
    return {}


def _rename_memberships(tx: Transaction, account: str, old: str, new: str) -> None:
    """Members name their groups by stored name: keep them pointing at the group."""
    for stored in tx.list_by(account, R.USER, "groups", old):
        user = R.load(R.USER, stored.data)
        groups = [new if name_key(g) == name_key(old) else g for g in user["groups"]]
        renamed: R.UserRecord = {**user, "groups": groups}
        tx.update(account, R.USER, stored.key, renamed)


@operation("iam", "DeleteGroup")
def delete_group(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account = account_of(ctx)
    target = resolve(ctx, GROUP, params["GroupName"])
    authorize_target(ctx, "iam:DeleteGroup", target)
    with ctx.write(account) as tx:
        rec = require_target(tx, account, target)
        if tx.count_by(account, R.USER, "groups", rec["name"]):
            raise DeleteConflictException("Cannot delete entity, must remove users from group first.")
        refuse_delete_with_policies(rec)
        tx.delete(account, R.GROUP, name_key(rec["name"]))
    return {}


@operation("iam", "AddUserToGroup")
def add_user_to_group(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    """Idempotent: adding a member again succeeds and changes nothing."""
    account = account_of(ctx)
    target = resolve(ctx, GROUP, params["GroupName"])
    authorize_target(ctx, "iam:AddUserToGroup", target)
    with ctx.write(account) as tx:
        group = require_target(tx, account, target)
        user = require(tx, account, USER, params["UserName"])
        if _in_group(user, group["name"]):
            return {}
        ensure_quota(len(user["groups"]), quotas.GROUPS_PER_USER, "GroupsPerUser")
        user["groups"] = [*user["groups"], group["name"]]
        tx.update(account, R.USER, name_key(user["name"]), user)
    return {}


@operation("iam", "RemoveUserFromGroup")
def remove_user_from_group(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account = account_of(ctx)
    target = resolve(ctx, GROUP, params["GroupName"])
    authorize_target(ctx, "iam:RemoveUserFromGroup", target)
    with ctx.write(account) as tx:
        group = require_target(tx, account, target)
        user = require(tx, account, USER, params["UserName"])
        if not _in_group(user, group["name"]):
            raise NoSuchEntityException(f"The user with name {user['name']} cannot be found in group {group['name']}.")
        user["groups"] = [g for g in user["groups"] if name_key(g) != name_key(group["name"])]
        tx.update(account, R.USER, name_key(user["name"]), user)
    return {}

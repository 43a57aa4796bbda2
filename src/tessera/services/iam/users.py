"""IAM users: CreateUser, GetUser, UpdateUser, DeleteUser, ListUsers and user tags."""

from __future__ import annotations

from typing import Any

from tessera.arn import root_arn
from tessera.errors import DeleteConflictException, ValidationError
from tessera.services import records as R
from tessera.services.iam import quotas
from tessera.services.iam.entities import (
    USER,
    account_of,
    authorize_target,
    ensure_quota,
    entity_arn,
    iso,
    move_entity,
    parse_time,
    path_matches,
    refuse_delete_with_policies,
    require_resolved,
    require_target,
    resolve,
    store_errors,
    user_shape,
    view_records,
)
from tessera.services.iam.entity_tags import list_entity_tags, tag_entity, untag_entity
from tessera.services.iam.managed import require_attachable, resolve_policy
from tessera.services.iam.paging import paginate
from tessera.services.iam.passwords import password_last_used
from tessera.services.iam.tags import (
    authorize_creation,
    validate_request_tags,
)
from tessera.services.ids import USER_PREFIX, new_unique_id
from tessera.services.request import OperationContext, operation
from tessera.services.view import name_key
from tessera.store.base import Transaction


@operation("iam", "CreateUser")
def create_user(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account, name = account_of(ctx), params["UserName"]
    path = params.get("Path") or "/"
    arn = entity_arn(account, R.USER, path, name)
    tags = validate_request_tags(params.get("Tags") or [])
    boundary_ref = resolve_policy(ctx, params["PermissionsBoundary"], "permissionsBoundary") if params.get("PermissionsBoundary") else None
    boundary = boundary_ref.arn if boundary_ref is not None else None
    authorize_creation(ctx, "iam:CreateUser", "iam:TagUser", arn, tags, boundary)
    with ctx.write(account) as tx:
        ensure_quota(tx.count(account, R.USER), quotas.USERS_PER_ACCOUNT, "UsersPerAccount")
        if boundary_ref is not None:
            boundary = require_attachable(ctx, tx, boundary_ref)
        rec: R.UserRecord = {
            "name": name,
            "id": new_unique_id(USER_PREFIX),
            "path": path,
            "arn": arn,
            "created": iso(ctx.now),
            "tags": tags,
            "inline_policies": {},
            "attached": [],
            "boundary": boundary or None,
            "groups": [],
        }
        with store_errors(USER, name):
            tx.insert(account, R.USER, name_key(name), rec)
    return {"User": user_shape(rec)}


@operation("iam", "GetUser", read_only=True)
def get_user(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params.get("UserName")
    if not name and ctx.caller.kind == "root":
        return {"User": _root_user(ctx)}
    if not name and ctx.caller.kind != "user":
        raise ValidationError("Must specify userName when calling with non-User credentials")
    target = resolve(ctx, USER, name or ctx.caller.name)
    authorize_target(ctx, "iam:GetUser", target)
    return {"User": _with_password_last_used(ctx, user_shape(require_resolved(target)), require_resolved(target))}


def _with_password_last_used(ctx: OperationContext, out: dict[str, Any], rec: R.UserRecord) -> dict[str, Any]:
    """``PasswordLastUsed`` only when the user's password was used to sign in (never faked)."""
    used = password_last_used(ctx, rec)
    if used is not None:
        out["PasswordLastUsed"] = used
    return out


def _root_user(ctx: OperationContext) -> dict[str, Any]:
    """GetUser by the root user without UserName describes the account's root."""
    account = account_of(ctx)
    ctx.authorize("iam:GetUser", root_arn(account))
    state = ctx.runtime.view.account(account)
    created = state.info["created"] if state is not None and state.info is not None else None
    return {
        "UserId": account,
        "Arn": root_arn(account),
        "CreateDate": parse_time(created) if created else ctx.now,
    }


@operation("iam", "ListUsers", read_only=True)
def list_users(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    prefix = params.get("PathPrefix")
    ctx.authorize("iam:ListUsers", entity_arn(account_of(ctx), R.USER, prefix or "/", ""))
    users = [u for u in view_records(ctx, R.USER) if path_matches(u["path"], prefix)]
    page = paginate(users, lambda u: u["name"].lower(), params.get("Marker"), params.get("MaxItems"))
    return page.output("Users", lambda u: _with_password_last_used(ctx, user_shape(u, full=False), u))


@operation("iam", "UpdateUser")
def update_user(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    """Rename and/or move a user; its id, keys, groups and MFA devices follow it."""
    account = account_of(ctx)
    new_name = params.get("NewUserName") or None
    target = resolve(ctx, USER, params["UserName"])
    authorize_target(ctx, "iam:UpdateUser", target)
    with ctx.write(account) as tx:
        rec = require_target(tx, account, target)
        old_name = move_entity(ctx, tx, USER, "iam:UpdateUser", rec, new_name, params.get("NewPath"))
        final_name, old_key = rec["name"], name_key(old_name)
        if final_name != old_name:  # a change of case alone is a rename too
            _rename_user_references(tx, account, old_name, final_name)
            _rename_login_profile(tx, account, old_key, final_name)
    return {}


def _rename_login_profile(tx: Transaction, account: str, old_key: str, new_name: str) -> None:
    """The login profile is keyed by its user's name: move it with the user."""
    profile = tx.get(account, R.LOGIN_PROFILE, old_key)
    if profile is not None:
        tx.delete(account, R.LOGIN_PROFILE, old_key)
        moved: R.LoginProfileRecord = {**R.load(R.LOGIN_PROFILE, profile.data), "user": new_name}
        tx.put(account, R.LOGIN_PROFILE, name_key(new_name), moved)


def _rename_user_references(tx: Transaction, account: str, old_name: str, new_name: str) -> None:
    """Access keys, MFA devices, signing certificates, SSH keys and service-specific
    credentials name their user (its stored name); keep them pointing at it."""
    for kind in (R.ACCESS_KEY, R.MFA_DEVICE, R.SIGNING_CERTIFICATE, R.SSH_PUBLIC_KEY, R.SERVICE_CREDENTIAL):
        for rec in tx.list_by(account, kind, "user", old_name):
            tx.update(account, kind, rec.key, {**rec.data, "user": new_name})


@operation("iam", "DeleteUser")
def delete_user(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account = account_of(ctx)
    target = resolve(ctx, USER, params["UserName"])
    authorize_target(ctx, "iam:DeleteUser", target)
    with ctx.write(account) as tx:
        rec = require_target(tx, account, target)
        _refuse_delete_with_subordinates(tx, account, rec)
        tx.delete(account, R.USER, name_key(rec["name"]))
    return {}


def _refuse_delete_with_subordinates(tx: Transaction, account: str, rec: R.UserRecord) -> None:
    """AWS refuses to delete a user that still owns anything
    (https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeleteUser.html)."""
    key = name_key(rec["name"])
    if tx.get(account, R.LOGIN_PROFILE, key) is not None:
        raise DeleteConflictException("Cannot delete entity, must delete login profile first.")
    for kind, what in (
        (R.ACCESS_KEY, "access keys"),
        (R.MFA_DEVICE, "MFA device"),
        (R.SIGNING_CERTIFICATE, "signing certificates"),
        (R.SSH_PUBLIC_KEY, "SSH public keys"),
        (R.SERVICE_CREDENTIAL, "service-specific credentials"),
    ):
        if tx.count_by(account, kind, "user", rec["name"]):
            raise DeleteConflictException(f"Cannot delete entity, must delete {what} first.")
    refuse_delete_with_policies(rec)
    if rec["groups"]:
        raise DeleteConflictException("Cannot delete entity, must remove users from group first.")


# -- tags ---------------------------------------------------------------------------
@operation("iam", "TagUser")
def tag_user(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return tag_entity(ctx, params, USER)


@operation("iam", "UntagUser")
def untag_user(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return untag_entity(ctx, params, USER)


@operation("iam", "ListUserTags", read_only=True)
def list_user_tags(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return list_entity_tags(ctx, params, USER)

"""Managed-policy attachments and permissions boundaries of users, groups and roles.

Attach/Detach are authorized against the entity with ``iam:PolicyARN``
set to the policy, and ``iam:PermissionsBoundary`` set to the entity's current boundary
when it has one — the key AWS's delegated-administration examples condition on. Both
the entity and the policy are resolved first (``entities.resolve``,
``managed.resolve_policy``), so the resource and every condition key carry the ARNs as
stored, never the spelling the request used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tessera.errors import LimitExceededException
from tessera.services.iam.entities import (
    GROUP,
    ROLE,
    USER,
    EntityKind,
    EntityRecord,
    P,
    Tagged,
    Target,
    account_of,
    authorize_target,
    no_such_entity,
    path_matches,
    require_target,
    resolve,
    view_records,
)
from tessera.services.iam.managed import PolicyRef, not_found, require_attachable, resolve_policy, view_policy
from tessera.services.iam.paging import paginate
from tessera.services.request import OperationContext, operation
from tessera.services.view import name_key


def _attach(ctx: OperationContext, params: Mapping[str, Any], kind: EntityKind[P]) -> dict[str, Any]:
    """Idempotent: attaching an attached policy succeeds and changes nothing."""
    account = account_of(ctx)
    target = resolve(ctx, kind, params[kind.name_param])
    policy = resolve_policy(ctx, params["PolicyArn"])
    authorize_target(ctx, f"iam:Attach{kind.title}Policy", target, boundary=True, extra={"iam:PolicyARN": policy.arn})
    with ctx.write(account) as tx:
        rec = require_target(tx, account, target)
        arn = require_attachable(ctx, tx, policy)
        if arn in rec["attached"]:
            return {}
        if len(rec["attached"]) >= kind.attached_quota:
            raise LimitExceededException(f"Cannot exceed quota for {kind.attached_quota_name}: {kind.attached_quota}")
        rec["attached"].append(arn)
        tx.update(account, kind.kind, name_key(rec["name"]), rec)
    return {}


def _attached_arn(target: Target[P], policy: PolicyRef) -> str:
    """The ARN to detach, as the entity holds it: the attachment whose ARN is the
    policy's (ASCII case aside), else the resolved policy's ARN."""
    wanted = name_key(policy.arn)
    held = target.record["attached"] if target.record is not None else []
    return next((str(a) for a in held if name_key(str(a)) == wanted), policy.arn)


def _detach(ctx: OperationContext, params: Mapping[str, Any], kind: EntityKind[P]) -> dict[str, Any]:
    account = account_of(ctx)
    target = resolve(ctx, kind, params[kind.name_param])
    arn = _attached_arn(target, resolve_policy(ctx, params["PolicyArn"]))
    authorize_target(ctx, f"iam:Detach{kind.title}Policy", target, boundary=True, extra={"iam:PolicyARN": arn})
    with ctx.write(account) as tx:
        rec = require_target(tx, account, target)
        kept = [a for a in rec["attached"] if a != arn]
        if len(kept) == len(rec["attached"]):
            raise not_found(arn)
        rec["attached"] = kept
        tx.update(account, kind.kind, name_key(rec["name"]), rec)
    return {}


def _list_attached(ctx: OperationContext, params: Mapping[str, Any], kind: EntityKind[P]) -> dict[str, Any]:
    prefix = params.get("PathPrefix")
    target = resolve(ctx, kind, params[kind.name_param])
    authorize_target(ctx, f"iam:ListAttached{kind.title}Policies", target, boundary=True)
    if target.record is None:
        raise no_such_entity(kind, target.name)
    attached = []
    for arn in target.record.get("attached", ()):
        policy = view_policy(ctx, arn)
        if policy is not None and path_matches(policy["path"], prefix):
            attached.append({"PolicyName": policy["name"], "PolicyArn": policy["arn"]})
    page = paginate(attached, lambda a: f"{a['PolicyName'].lower()}|{a['PolicyArn']}", params.get("Marker"), params.get("MaxItems"))
    return page.output("AttachedPolicies")


@operation("iam", "AttachUserPolicy")
def attach_user_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return _attach(ctx, params, USER)


@operation("iam", "AttachGroupPolicy")
def attach_group_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return _attach(ctx, params, GROUP)


@operation("iam", "AttachRolePolicy")
def attach_role_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return _attach(ctx, params, ROLE)


@operation("iam", "DetachUserPolicy")
def detach_user_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return _detach(ctx, params, USER)


@operation("iam", "DetachGroupPolicy")
def detach_group_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return _detach(ctx, params, GROUP)


@operation("iam", "DetachRolePolicy")
def detach_role_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return _detach(ctx, params, ROLE)


@operation("iam", "ListAttachedUserPolicies", read_only=True)
def list_attached_user_policies(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return _list_attached(ctx, params, USER)


@operation("iam", "ListAttachedGroupPolicies", read_only=True)
def list_attached_group_policies(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return _list_attached(ctx, params, GROUP)


@operation("iam", "ListAttachedRolePolicies", read_only=True)
def list_attached_role_policies(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return _list_attached(ctx, params, ROLE)


# -- permissions boundaries ---------------------------------------------------------
def _put_boundary(ctx: OperationContext, params: Mapping[str, Any], kind: EntityKind[Tagged]) -> dict[str, Any]:
    account = account_of(ctx)
    target = resolve(ctx, kind, params[kind.name_param])
    policy = resolve_policy(ctx, params["PermissionsBoundary"], "permissionsBoundary")
    context = {"iam:PermissionsBoundary": policy.arn, "iam:PolicyARN": policy.arn}
    authorize_target(ctx, f"iam:Put{kind.title}PermissionsBoundary", target, extra=context)
    with ctx.write(account) as tx:
        rec = require_target(tx, account, target)
        rec["boundary"] = require_attachable(ctx, tx, policy)
        tx.update(account, kind.kind, name_key(rec["name"]), rec)
    return {}


def _delete_boundary(ctx: OperationContext, params: Mapping[str, Any], kind: EntityKind[Tagged]) -> dict[str, Any]:
    """Removing a boundary that is not set succeeds (nothing to remove)."""
    account = account_of(ctx)
    target = resolve(ctx, kind, params[kind.name_param])
    authorize_target(ctx, f"iam:Delete{kind.title}PermissionsBoundary", target, boundary=True)
    with ctx.write(account) as tx:
        rec = require_target(tx, account, target)
        if rec["boundary"]:
            rec["boundary"] = None
            tx.update(account, kind.kind, name_key(rec["name"]), rec)
    return {}


@operation("iam", "PutUserPermissionsBoundary")
def put_user_permissions_boundary(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return _put_boundary(ctx, params, USER)


@operation("iam", "PutRolePermissionsBoundary")
def put_role_permissions_boundary(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return _put_boundary(ctx, params, ROLE)


@operation("iam", "DeleteUserPermissionsBoundary")
def delete_user_permissions_boundary(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return _delete_boundary(ctx, params, USER)


@operation("iam", "DeleteRolePermissionsBoundary")
def delete_role_permissions_boundary(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return _delete_boundary(ctx, params, ROLE)


# -- who uses a policy --------------------------------------------------------------
_FILTER_KINDS: dict[str, tuple[EntityKind[Any], ...]] = {"User": (USER,), "Group": (GROUP,), "Role": (ROLE,)}


@operation("iam", "ListEntitiesForPolicy", read_only=True)
def list_entities_for_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    prefix = params.get("PathPrefix")
    ref = resolve_policy(ctx, params["PolicyArn"])
    ctx.authorize("iam:ListEntitiesForPolicy", ref.arn)
    if ref.record is None:
        raise not_found(ref.arn)
    arn = ref.arn
    kinds: tuple[EntityKind[Any], ...] = _FILTER_KINDS.get(params.get("EntityFilter") or "", (USER, GROUP, ROLE))
    usage = params.get("PolicyUsageFilter")
    found: list[tuple[EntityKind[Any], EntityRecord]] = []
    for kind in kinds:
        for rec in view_records(ctx, kind.kind):
            attached = arn in rec.get("attached", ()) and usage != "PermissionsBoundary"
            bounded = rec.get("boundary") == arn and usage != "PermissionsPolicy"
            if (attached or bounded) and path_matches(rec["path"], prefix):
                found.append((kind, rec))
    page = paginate(found, lambda f: f"{f[0].kind}|{f[1]['name'].lower()}", params.get("Marker"), params.get("MaxItems"))
    out: dict[str, Any] = {"PolicyUsers": [], "PolicyGroups": [], "PolicyRoles": [], "IsTruncated": page.is_truncated}
    for kind, rec in page.items:
        out[f"Policy{kind.title}s"].append({f"{kind.title}Name": rec["name"], f"{kind.title}Id": rec["id"]})
    if page.next_marker:
        out["Marker"] = page.next_marker
    return out

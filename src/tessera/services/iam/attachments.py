"""Managed-policy attachments and permissions boundaries of users, groups and roles.

Attach/Detach are authorized against the entity (iam-api.md §15) with ``iam:PolicyARN``
set to the policy, and ``iam:PermissionsBoundary`` set to the entity's current boundary
when it has one — the key AWS's delegated-administration examples condition on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tessera.errors import LimitExceededException
from tessera.services.context import OperationContext, operation
from tessera.services.iam.entities import (
    GROUP,
    ROLE,
    USER,
    EntityKind,
    account_of,
    known_arn,
    path_matches,
    require,
    require_view,
    target_tags,
    view_record,
    view_records,
)
from tessera.services.iam.managed import not_found, require_attachable, view_policy
from tessera.services.iam.paging import paginate


def _entity_context(ctx: OperationContext, kind: EntityKind, name: str) -> dict[str, object]:
    context = target_tags(ctx, kind, name) if kind is not GROUP else {}
    rec = view_record(ctx, kind.kind, name)
    if rec is not None and rec.get("boundary"):
        context["iam:PermissionsBoundary"] = rec["boundary"]
    return context


def _attach(ctx: OperationContext, params: Mapping[str, Any], kind: EntityKind) -> dict[str, Any]:
    """Idempotent: attaching an attached policy succeeds and changes nothing."""
    account, name, arn = account_of(ctx), params[kind.name_param], params["PolicyArn"]
    context = {**_entity_context(ctx, kind, name), "iam:PolicyARN": arn}
    ctx.authorize(f"iam:Attach{kind.title}Policy", known_arn(ctx, kind, name), context=context)
    with ctx.write(account) as tx:
        rec = require(tx, account, kind, name)
        arn = require_attachable(ctx, tx, arn)
        if arn in rec["attached"]:
            return {}
        if len(rec["attached"]) >= kind.attached_quota:
            raise LimitExceededException(f"Cannot exceed quota for {kind.attached_quota_name}: {kind.attached_quota}")
        rec["attached"].append(arn)
        tx.update(account, kind.kind, rec["name"].lower(), rec)
    return {}


def _detach(ctx: OperationContext, params: Mapping[str, Any], kind: EntityKind) -> dict[str, Any]:
    account, name, arn = account_of(ctx), params[kind.name_param], params["PolicyArn"]
    context = {**_entity_context(ctx, kind, name), "iam:PolicyARN": arn}
    ctx.authorize(f"iam:Detach{kind.title}Policy", known_arn(ctx, kind, name), context=context)
    with ctx.write(account) as tx:
        rec = require(tx, account, kind, name)
        kept = [a for a in rec["attached"] if a.lower() != arn.lower()]
        if len(kept) == len(rec["attached"]):
            raise not_found(arn)
        rec["attached"] = kept
        tx.update(account, kind.kind, rec["name"].lower(), rec)
    return {}


def _list_attached(ctx: OperationContext, params: Mapping[str, Any], kind: EntityKind) -> dict[str, Any]:
    name, prefix = params[kind.name_param], params.get("PathPrefix")
    ctx.authorize(f"iam:ListAttached{kind.title}Policies", known_arn(ctx, kind, name), context=_entity_context(ctx, kind, name))
    rec = require_view(ctx, kind, name)
    attached = []
    for arn in rec.get("attached", ()):
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
def _put_boundary(ctx: OperationContext, params: Mapping[str, Any], kind: EntityKind) -> dict[str, Any]:
    account, name, arn = account_of(ctx), params[kind.name_param], params["PermissionsBoundary"]
    context = {**target_tags(ctx, kind, name), "iam:PermissionsBoundary": arn, "iam:PolicyARN": arn}
    ctx.authorize(f"iam:Put{kind.title}PermissionsBoundary", known_arn(ctx, kind, name), context=context)
    with ctx.write(account) as tx:
        rec = require(tx, account, kind, name)
        rec["boundary"] = require_attachable(ctx, tx, arn)
        tx.update(account, kind.kind, rec["name"].lower(), rec)
    return {}


def _delete_boundary(ctx: OperationContext, params: Mapping[str, Any], kind: EntityKind) -> dict[str, Any]:
    """Removing a boundary that is not set succeeds (nothing to remove)."""
    account, name = account_of(ctx), params[kind.name_param]
    ctx.authorize(
        f"iam:Delete{kind.title}PermissionsBoundary", known_arn(ctx, kind, name), context=_entity_context(ctx, kind, name)
    )
    with ctx.write(account) as tx:
        rec = require(tx, account, kind, name)
        if rec.get("boundary"):
            rec["boundary"] = None
            tx.update(account, kind.kind, rec["name"].lower(), rec)
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
_FILTER_KINDS = {"User": (USER,), "Group": (GROUP,), "Role": (ROLE,)}


@operation("iam", "ListEntitiesForPolicy", read_only=True)
def list_entities_for_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    arn, prefix = params["PolicyArn"], params.get("PathPrefix")
    ctx.authorize("iam:ListEntitiesForPolicy", arn)
    policy = view_policy(ctx, arn)
    if policy is None:
        raise not_found(arn)
    arn = str(policy["arn"])
    kinds = _FILTER_KINDS.get(params.get("EntityFilter") or "", (USER, GROUP, ROLE))
    usage = params.get("PolicyUsageFilter")
    found: list[tuple[EntityKind, Mapping[str, Any]]] = []
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

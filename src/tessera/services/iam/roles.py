"""IAM roles: create with a trust policy, read, update, delete, and role tags.

The trust policy is a resource-based policy of type TRUST (sts:AssumeRole* actions,
a Principal, no Resource); it is stored exactly as submitted and returned as stored.
"""

from __future__ import annotations

from typing import Any

from tessera.arn import Arn
from tessera.errors import DeleteConflictException, MalformedPolicyDocumentException
from tessera.policy import Policy, PolicyType
from tessera.services import records as R
from tessera.services.iam import quotas
from tessera.services.iam.documents import check_size, parse_document
from tessera.services.iam.entities import (
    ROLE,
    account_of,
    authorize_target,
    ensure_quota,
    entity_arn,
    iso,
    last_use,
    path_matches,
    refuse_delete_with_policies,
    require_resolved,
    require_target,
    resolve,
    role_shape,
    store_errors,
    view_records,
)
from tessera.services.iam.entity_tags import list_entity_tags, tag_entity, untag_entity
from tessera.services.iam.managed import require_attachable, resolve_policy
from tessera.services.iam.paging import paginate
from tessera.services.iam.tags import (
    authorize_creation,
    validate_request_tags,
)
from tessera.services.ids import ROLE_PREFIX, new_unique_id
from tessera.services.request import OperationContext, operation
from tessera.services.trust import effective_trust_policy, principal_ids
from tessera.services.view import name_key

DEFAULT_MAX_SESSION_DURATION = 3600


def check_trust_policy(ctx: OperationContext, text: str, role_arn: str) -> Policy:
    """Parse and size-check a trust policy, and refuse principals that do not exist."""
    policy = parse_document(text, PolicyType.TRUST, f"{role_arn}#trust")
    check_size([text], quotas.TRUST_POLICY_SIZE, f"Cannot exceed quota for ACLSizePerRole: {quotas.TRUST_POLICY_SIZE}")
    _refuse_unknown_principals(ctx, policy)
    return policy


def _refuse_unknown_principals(ctx: OperationContext, policy: Policy) -> None:
    """AWS rejects a trust policy naming a user or role that does not exist, for accounts
    it hosts; for Tessera that is every account the server holds."""
    for statement in policy.statements:
        element = statement.principal
        if element is None:
            continue
        for arn in sorted(element.users | element.roles):
            if not _principal_exists(ctx, arn):
                raise MalformedPolicyDocumentException(f'Invalid principal in policy: "AWS":"{arn}"')


def _principal_exists(ctx: OperationContext, arn: str) -> bool:
    parsed = Arn.parse(arn)
    if parsed is None or parsed.service != "iam" or "*" in arn or "?" in arn:
        return True
    state = ctx.runtime.view.account(parsed.account)
    if state is None:
        return True  # an account this server does not hold: AWS's problem, not ours
    kind = parsed.resource_type
    table = state.users if kind == "user" else state.roles if kind == "role" else None
    if table is None:
        return True
    return any(rec["arn"] == arn for rec in table.values())


@operation("iam", "CreateRole")
def create_role(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account, name = account_of(ctx), params["RoleName"]
    path = params.get("Path") or "/"
    arn = entity_arn(account, R.ROLE, path, name)
    tags = validate_request_tags(params.get("Tags") or [])
    boundary_ref = resolve_policy(ctx, params["PermissionsBoundary"], "permissionsBoundary") if params.get("PermissionsBoundary") else None
    boundary = boundary_ref.arn if boundary_ref is not None else None
    authorize_creation(ctx, "iam:CreateRole", "iam:TagRole", arn, tags, boundary)
    trust = params["AssumeRolePolicyDocument"]
    bound = principal_ids(ctx.runtime.view, check_trust_policy(ctx, trust, arn))
    with ctx.write(account) as tx:
        ensure_quota(tx.count(account, R.ROLE), quotas.ROLES_PER_ACCOUNT, "RolesPerAccount")
        if boundary_ref is not None:
            boundary = require_attachable(ctx, tx, boundary_ref)
        rec: R.RoleRecord = {
            "name": name,
            "id": new_unique_id(ROLE_PREFIX),
            "path": path,
            "arn": arn,
            "created": iso(ctx.now),
            "trust_policy": trust,
            "principal_ids": bound,
            "description": params.get("Description") or "",
            "max_session_duration": params.get("MaxSessionDuration") or DEFAULT_MAX_SESSION_DURATION,
            "boundary": boundary or None,
            "tags": tags,
            "inline_policies": {},
            "attached": [],
        }
        with store_errors(ROLE, name):
            tx.insert(account, R.ROLE, name_key(name), rec)
    return {"Role": role_shape(rec)}


@operation("iam", "GetRole", read_only=True)
def get_role(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    target = resolve(ctx, ROLE, params["RoleName"])
    authorize_target(ctx, "iam:GetRole", target)
    rec = require_resolved(target)
    shown: R.RoleRecord = {**rec, "trust_policy": effective_trust_policy(ctx.runtime.view, rec)}
    return {"Role": role_shape(shown, last_used=last_use(ctx, "role", rec["id"]))}


@operation("iam", "ListRoles", read_only=True)
def list_roles(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    prefix = params.get("PathPrefix")
    ctx.authorize("iam:ListRoles", entity_arn(account_of(ctx), R.ROLE, prefix or "/", ""))
    roles = [r for r in view_records(ctx, R.ROLE) if path_matches(r["path"], prefix)]
    page = paginate(roles, lambda r: r["name"].lower(), params.get("Marker"), params.get("MaxItems"))
    return page.output("Roles", lambda r: role_shape({**r, "trust_policy": effective_trust_policy(ctx.runtime.view, r)}, full=False))


def _update(
    ctx: OperationContext, action: str, name: str, *, description: str | None = None, max_session_duration: int | None = None
) -> R.RoleRecord:
    account = account_of(ctx)
    target = resolve(ctx, ROLE, name)
    authorize_target(ctx, action, target)
    with ctx.write(account) as tx:
        rec = require_target(tx, account, target)
        if description is not None:
            rec["description"] = description
        if max_session_duration is not None:
            rec["max_session_duration"] = max_session_duration
        tx.update(account, R.ROLE, name_key(rec["name"]), rec)
    return rec


@operation("iam", "UpdateRole")
def update_role(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    _update(
        ctx,
        "iam:UpdateRole",
        params["RoleName"],
        description=params.get("Description"),
        max_session_duration=params.get("MaxSessionDuration"),
    )
    return {}


@operation("iam", "UpdateRoleDescription")
def update_role_description(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    rec = _update(ctx, "iam:UpdateRoleDescription", params["RoleName"], description=params["Description"])
    return {"Role": role_shape(rec)}


@operation("iam", "UpdateAssumeRolePolicy")
def update_assume_role_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    text = params["PolicyDocument"]
    target = resolve(ctx, ROLE, params["RoleName"])
    authorize_target(ctx, "iam:UpdateAssumeRolePolicy", target)
    bound = principal_ids(ctx.runtime.view, check_trust_policy(ctx, text, target.arn))
    account = account_of(ctx)
    with ctx.write(account) as tx:
        rec = require_target(tx, account, target)
        rec["trust_policy"] = text
        rec["principal_ids"] = bound
        tx.update(account, R.ROLE, name_key(rec["name"]), rec)
    return {}


@operation("iam", "DeleteRole")
def delete_role(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account = account_of(ctx)
    target = resolve(ctx, ROLE, params["RoleName"])
    authorize_target(ctx, "iam:DeleteRole", target)
    with ctx.write(account) as tx:
        rec = require_target(tx, account, target)
        refuse_delete_with_policies(rec)
        if tx.count_by(account, R.INSTANCE_PROFILE, "role_ids", rec["id"]):
            raise DeleteConflictException("Cannot delete entity, must remove roles from instance profile first.")
        tx.delete(account, R.ROLE, name_key(rec["name"]))
    return {}


@operation("iam", "TagRole")
def tag_role(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return tag_entity(ctx, params, ROLE)


@operation("iam", "UntagRole")
def untag_role(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return untag_entity(ctx, params, ROLE)


@operation("iam", "ListRoleTags", read_only=True)
def list_role_tags(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return list_entity_tags(ctx, params, ROLE)

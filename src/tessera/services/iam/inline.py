"""Inline policies of users, groups and roles: Put/Get/Delete/List {User,Group,Role}Policy.

IAM limits the *sum* of an entity's inline policies (2,048 / 5,120 / 10,240 characters
without whitespace for users / groups / roles), so a Put is checked against the others
the entity already has. Putting an existing name replaces that document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tessera.errors import NoSuchEntityException
from tessera.policy import PolicyType
from tessera.services.iam.documents import check_size, parse_document
from tessera.services.iam.entities import (
    GROUP,
    ROLE,
    USER,
    EntityKind,
    P,
    Target,
    account_of,
    authorize_target,
    require_resolved,
    require_target,
    resolve,
)
from tessera.services.iam.paging import paginate
from tessera.services.request import OperationContext, operation
from tessera.services.view import name_key


def _authorize(ctx: OperationContext, action: str, kind: EntityKind[P], name: str) -> Target[P]:
    target = resolve(ctx, kind, name)
    authorize_target(ctx, action, target, boundary=True)
    return target


def _no_such_policy(kind: EntityKind[P], policy_name: str) -> NoSuchEntityException:
    return NoSuchEntityException(f"The {kind.kind} policy with name {policy_name} cannot be found.")


def _put(ctx: OperationContext, params: Mapping[str, Any], kind: EntityKind[P]) -> dict[str, Any]:
    account, name = account_of(ctx), params[kind.name_param]
    policy_name, text = params["PolicyName"], params["PolicyDocument"]
    target = _authorize(ctx, f"iam:Put{kind.title}Policy", kind, name)
    parse_document(text, PolicyType.IDENTITY, f"{target.arn}#{policy_name}")
    with ctx.write(account) as tx:
        rec = require_target(tx, account, target)
        others: list[str] = [t for n, t in rec["inline_policies"].items() if n != policy_name]
        check_size(
            [*others, text],
            kind.inline_size,
            f"Maximum policy size of {kind.inline_size} bytes exceeded for {kind.kind} {rec['name']}",
        )
        rec["inline_policies"][policy_name] = text
        tx.update(account, kind.kind, name_key(rec["name"]), rec)
    return {}


def _get(ctx: OperationContext, params: Mapping[str, Any], kind: EntityKind[P]) -> dict[str, Any]:
    name, policy_name = params[kind.name_param], params["PolicyName"]
    rec = require_resolved(_authorize(ctx, f"iam:Get{kind.title}Policy", kind, name))
    text = rec["inline_policies"].get(policy_name)
    if text is None:
        raise _no_such_policy(kind, policy_name)
    return {kind.name_param: rec["name"], "PolicyName": policy_name, "PolicyDocument": text}


def _delete(ctx: OperationContext, params: Mapping[str, Any], kind: EntityKind[P]) -> dict[str, Any]:
    account, name, policy_name = account_of(ctx), params[kind.name_param], params["PolicyName"]
    target = _authorize(ctx, f"iam:Delete{kind.title}Policy", kind, name)
    with ctx.write(account) as tx:
        rec = require_target(tx, account, target)
        if rec["inline_policies"].pop(policy_name, None) is None:
            raise _no_such_policy(kind, policy_name)
        tx.update(account, kind.kind, name_key(rec["name"]), rec)
    return {}


def _list(ctx: OperationContext, params: Mapping[str, Any], kind: EntityKind[P]) -> dict[str, Any]:
    name = params[kind.name_param]
    rec = require_resolved(_authorize(ctx, f"iam:List{kind.title}Policies", kind, name))
    page = paginate(list(rec.get("inline_policies", {})), str, params.get("Marker"), params.get("MaxItems"))
    return page.output("PolicyNames")


@operation("iam", "PutUserPolicy")
def put_user_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return _put(ctx, params, USER)


@operation("iam", "PutGroupPolicy")
def put_group_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return _put(ctx, params, GROUP)


@operation("iam", "PutRolePolicy")
def put_role_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return _put(ctx, params, ROLE)


@operation("iam", "GetUserPolicy", read_only=True)
def get_user_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return _get(ctx, params, USER)


@operation("iam", "GetGroupPolicy", read_only=True)
def get_group_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return _get(ctx, params, GROUP)


@operation("iam", "GetRolePolicy", read_only=True)
def get_role_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return _get(ctx, params, ROLE)


@operation("iam", "DeleteUserPolicy")
def delete_user_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return _delete(ctx, params, USER)


@operation("iam", "DeleteGroupPolicy")
def delete_group_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return _delete(ctx, params, GROUP)


@operation("iam", "DeleteRolePolicy")
def delete_role_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return _delete(ctx, params, ROLE)


@operation("iam", "ListUserPolicies", read_only=True)
def list_user_policies(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return _list(ctx, params, USER)


@operation("iam", "ListGroupPolicies", read_only=True)
def list_group_policies(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return _list(ctx, params, GROUP)


@operation("iam", "ListRolePolicies", read_only=True)
def list_role_policies(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return _list(ctx, params, ROLE)

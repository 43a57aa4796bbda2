"""Tag, Untag and List…Tags for users and roles: one implementation, parametrised by
the entity kind (the handlers in users.py and roles.py only name the operation)."""

from __future__ import annotations

from typing import Any

from tessera.services.iam.entities import EntityKind, Tagged, account_of, authorize_target, require_resolved, require_target, resolve
from tessera.services.iam.paging import paginate
from tessera.services.iam.tags import (
    merge_tags,
    remove_tags,
    request_tag_context,
    tag_keys_context,
    validate_request_tags,
)
from tessera.services.request import OperationContext


def tag_entity(ctx: OperationContext, params: dict[str, Any], kind: EntityKind[Tagged]) -> dict[str, Any]:
    account = account_of(ctx)
    tags = validate_request_tags(params["Tags"])
    target = resolve(ctx, kind, params[kind.name_param])
    authorize_target(ctx, f"iam:Tag{kind.title}", target, extra=request_tag_context(tags))
    with ctx.write(account) as tx:
        rec = require_target(tx, account, target)
        rec["tags"] = merge_tags(rec["tags"], tags, f"{kind.kind} {rec['name']}")
        tx.update(account, kind.kind, rec["name"].lower(), rec)
    return {}


def untag_entity(ctx: OperationContext, params: dict[str, Any], kind: EntityKind[Tagged]) -> dict[str, Any]:
    account = account_of(ctx)
    keys = list(params["TagKeys"])
    target = resolve(ctx, kind, params[kind.name_param])
    authorize_target(ctx, f"iam:Untag{kind.title}", target, extra=tag_keys_context(keys))
    with ctx.write(account) as tx:
        rec = require_target(tx, account, target)
        rec["tags"] = remove_tags(rec["tags"], keys)
        tx.update(account, kind.kind, rec["name"].lower(), rec)
    return {}


def list_entity_tags(ctx: OperationContext, params: dict[str, Any], kind: EntityKind[Tagged]) -> dict[str, Any]:
    target = resolve(ctx, kind, params[kind.name_param])
    authorize_target(ctx, f"iam:List{kind.title}Tags", target)
    rec = require_resolved(target)
    page = paginate(list(rec["tags"]), lambda t: t["Key"].lower(), params.get("Marker"), params.get("MaxItems"))
    return page.output("Tags")

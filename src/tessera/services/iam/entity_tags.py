"""Tag, Untag and List…Tags for users and roles: one implementation, parametrised by
the entity kind (the handlers in users.py and roles.py only name the operation)."""

from __future__ import annotations

from typing import Any

from tessera.services.context import OperationContext
from tessera.services.iam.entities import EntityKind, account_of, known_arn, require, require_view, target_tags
from tessera.services.iam.paging import paginate
from tessera.services.iam.tags import (
    merge_tags,
    remove_tags,
    request_tag_context,
    tag_keys_context,
    validate_request_tags,
)


def tag_entity(ctx: OperationContext, params: dict[str, Any], kind: EntityKind) -> dict[str, Any]:
    account, name = account_of(ctx), params[kind.name_param]
    tags = validate_request_tags(params["Tags"])
    context = {**target_tags(ctx, kind, name), **request_tag_context(tags)}
    ctx.authorize(f"iam:Tag{kind.title}", known_arn(ctx, kind, name), context=context)
    with ctx.write(account) as tx:
        rec = require(tx, account, kind, name)
        rec["tags"] = merge_tags(rec.get("tags", ()), tags, f"{kind.kind} {rec['name']}")
        tx.update(account, kind.kind, rec["name"].lower(), rec)
    return {}


def untag_entity(ctx: OperationContext, params: dict[str, Any], kind: EntityKind) -> dict[str, Any]:
    account, name = account_of(ctx), params[kind.name_param]
    keys = list(params["TagKeys"])
    context = {**target_tags(ctx, kind, name), **tag_keys_context(keys)}
    ctx.authorize(f"iam:Untag{kind.title}", known_arn(ctx, kind, name), context=context)
    with ctx.write(account) as tx:
        rec = require(tx, account, kind, name)
        rec["tags"] = remove_tags(rec.get("tags", ()), keys)
        tx.update(account, kind.kind, rec["name"].lower(), rec)
    return {}


def list_entity_tags(ctx: OperationContext, params: dict[str, Any], kind: EntityKind) -> dict[str, Any]:
    name = params[kind.name_param]
    ctx.authorize(f"iam:List{kind.title}Tags", known_arn(ctx, kind, name), context=target_tags(ctx, kind, name))
    rec = require_view(ctx, kind, name)
    page = paginate(list(rec.get("tags", ())), lambda t: t["Key"].lower(), params.get("Marker"), params.get("MaxItems"))
    return page.output("Tags")

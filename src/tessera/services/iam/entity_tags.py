"""Tag, Untag and List…Tags for every taggable IAM resource: one implementation,
parametrised by a ``TaggedResource`` (instance profiles, server certificates and MFA
devices declare theirs; users and roles are made one from their entity kind, so the
handlers in users.py and roles.py only name the operation)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tessera.services.iam.entities import (
    EntityKind,
    Tagged,
    Target,
    account_of,
    authorize_target,
    require_resolved,
    require_target,
    resolve,
)
from tessera.services.iam.paging import paginate
from tessera.services.iam.tags import (
    merge_tags,
    remove_tags,
    request_tag_context,
    tag_keys_context,
    validate_request_tags,
)
from tessera.services.request import OperationContext
from tessera.services.view import name_key
from tessera.store.base import Transaction

H = TypeVar("H")


@dataclass(frozen=True, slots=True)
class TaggedResource(Generic[H]):
    """How the tag operations reach a resource kind resolved by its own module: ``resolve``
    the name a request gives to a handle ``H``, ``authorize`` an action on it (with the
    request's tag context), ``require`` the stored record inside the write (NoSuchEntity,
    or ConcurrentModification when it is no longer the one authorized), and
    ``require_resolved`` the record the view resolved. A record is named by ``ident``
    (in messages) and stored under ``key``: its name, case-folded, unless told otherwise."""

    kind: str
    label: str
    title: str
    name_param: str
    resolve: Callable[[OperationContext, str], H]
    authorize: Callable[[OperationContext, str, H, Mapping[str, object] | None], None]
    require: Callable[[Transaction, str, H], Any]
    require_resolved: Callable[[H], Any]
    ident: Callable[[Any], str] = lambda rec: str(rec["name"])
    key: Callable[[Any], str] = lambda rec: name_key(str(rec["name"]))


def tag_resource(ctx: OperationContext, params: dict[str, Any], res: TaggedResource[H]) -> dict[str, Any]:
    account = account_of(ctx)
    tags = validate_request_tags(params["Tags"])
    handle = res.resolve(ctx, params[res.name_param])
    res.authorize(ctx, f"iam:Tag{res.title}", handle, request_tag_context(tags))
    with ctx.write(account) as tx:
        rec = res.require(tx, account, handle)
        rec["tags"] = merge_tags(rec["tags"], tags, f"{res.label} {res.ident(rec)}")
        tx.update(account, res.kind, res.key(rec), rec)
    return {}


def untag_resource(ctx: OperationContext, params: dict[str, Any], res: TaggedResource[H]) -> dict[str, Any]:
    account = account_of(ctx)
    keys = list(params["TagKeys"])
    handle = res.resolve(ctx, params[res.name_param])
    res.authorize(ctx, f"iam:Untag{res.title}", handle, tag_keys_context(keys))
    with ctx.write(account) as tx:
        rec = res.require(tx, account, handle)
        rec["tags"] = remove_tags(rec["tags"], keys)
        tx.update(account, res.kind, res.key(rec), rec)
    return {}


def list_resource_tags(ctx: OperationContext, params: dict[str, Any], res: TaggedResource[H]) -> dict[str, Any]:
    handle = res.resolve(ctx, params[res.name_param])
    res.authorize(ctx, f"iam:List{res.title}Tags", handle, None)
    rec = res.require_resolved(handle)
    page = paginate(list(rec.get("tags", ())), lambda t: t["Key"].lower(), params.get("Marker"), params.get("MaxItems"))
    return page.output("Tags")


def _entity(kind: EntityKind[Tagged]) -> TaggedResource[Target[Tagged]]:
    """Users and roles as tagged resources: resolved to a ``Target`` and authorized on it."""

    def authorize(ctx: OperationContext, action: str, target: Target[Tagged], extra: Mapping[str, object] | None) -> None:
        authorize_target(ctx, action, target, extra=extra)

    return TaggedResource(
        kind.kind,
        kind.kind,
        kind.title,
        kind.name_param,
        lambda ctx, name: resolve(ctx, kind, name),
        authorize,
        require_target,
        require_resolved,
    )


def tag_entity(ctx: OperationContext, params: dict[str, Any], kind: EntityKind[Tagged]) -> dict[str, Any]:
    return tag_resource(ctx, params, _entity(kind))


def untag_entity(ctx: OperationContext, params: dict[str, Any], kind: EntityKind[Tagged]) -> dict[str, Any]:
    return untag_resource(ctx, params, _entity(kind))


def list_entity_tags(ctx: OperationContext, params: dict[str, Any], kind: EntityKind[Tagged]) -> dict[str, Any]:
    return list_resource_tags(ctx, params, _entity(kind))

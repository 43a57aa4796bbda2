"""What the four kinds of per-user credential share: access keys, signing certificates,
SSH public keys and service-specific credentials.

Each is a record with an ``id``, the owning user's stored ``user`` name and a
``status`` (``Active``/``Inactive``). Access keys and signing certificates may also
belong to the account's root user (``user`` is ``ROOT``, ``""``). The operations follow
the common pattern: the owner is resolved and authorized on its canonical identity
(``authorize_owner``), then the write re-checks that the same user still exists
(``require_owner``) before it reads or changes that owner's records.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from tessera.arn import root_arn
from tessera.errors import ValidationError
from tessera.services import records as R
from tessera.services.iam.entities import (
    USER,
    Target,
    account_of,
    authorize_target,
    require_resolved,
    require_target,
    resolve,
    view_records,
)
from tessera.services.request import OperationContext
from tessera.services.view import name_key
from tessera.store.base import Transaction

ROOT = ""
STATUSES = ("Active", "Inactive")

Kind = Literal["access_key", "signing_certificate", "ssh_public_key", "service_credential"]
NotFound = Callable[[str, str], Exception]
"""The NoSuchEntity a kind raises for a record id (first) the owner (second) lacks."""


def owner_or_root(ctx: OperationContext, params: Mapping[str, Any]) -> str:
    """Whose credentials a request is about: ``UserName``, else the calling user, else root
    (``ROOT``) when the caller is the root user."""
    name = params.get("UserName")
    if name:
        return str(name)
    if ctx.caller.kind == "user":
        return ctx.caller.name
    if ctx.caller.kind == "root":
        return ROOT
    raise ValidationError("Must specify userName when calling with non-User credentials")


def authorize_owner(ctx: OperationContext, action: str, owner: str, *, root: bool = False) -> Target[R.UserRecord] | None:
    """Authorize ``action`` on the owner: root's ARN (only where ``root`` may own the kind),
    or the resolved user (returned, so the write checks it still changes that user)."""
    if root and owner == ROOT:
        ctx.authorize(action, root_arn(account_of(ctx)))
        return None
    target = resolve(ctx, USER, owner)
    authorize_target(ctx, action, target)
    return target


def require_owner(tx: Transaction, account: str, target: Target[R.UserRecord] | None) -> str:
    """The owner's stored name, ``ROOT`` for root (NoSuchEntity for a missing user)."""
    return ROOT if target is None else require_target(tx, account, target)["name"]


def resolved_owner(target: Target[R.UserRecord] | None) -> str:
    """The owner's stored name as the view resolved it, ``ROOT`` for root."""
    return ROOT if target is None else str(require_resolved(target)["name"])


def owned_by(rec: Mapping[str, Any], owner: str) -> bool:
    return name_key(str(rec["user"])) == name_key(owner)


def view_owned(ctx: OperationContext, kind: Kind, target: Target[R.UserRecord] | None) -> list[Any]:
    """The owner's records of ``kind`` in the in-memory view (for the List operations)."""
    owner = resolved_owner(target)
    return [r for r in view_records(ctx, kind) if owned_by(r, owner)]


def require_owned(tx: Transaction, account: str, kind: Kind, owner: str, rec_id: str, not_found: NotFound) -> Any:
    """The stored record ``rec_id`` of ``kind`` if ``owner`` owns it, else ``not_found``."""
    stored = tx.get(account, kind, rec_id)
    rec = R.load(kind, dict(stored.data)) if stored is not None else None
    if rec is None or not owned_by(rec, owner):
        raise not_found(rec_id, owner)
    return rec


def check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValidationError(
            f"1 validation error detected: Value '{status}' at 'status' failed to satisfy constraint: "
            "Member must satisfy enum value set: [Active, Inactive]"
        )


def update_status(
    ctx: OperationContext, action: str, owner: str, kind: Kind, rec_id: str, status: str, not_found: NotFound, *, root: bool = False
) -> dict[str, Any]:
    """The Update* operation of a kind: authorize on the owner, check the status, set it."""
    account = account_of(ctx)
    target = authorize_owner(ctx, action, owner, root=root)
    check_status(status)
    with ctx.write(account) as tx:
        rec = require_owned(tx, account, kind, require_owner(tx, account, target), rec_id, not_found)
        rec["status"] = status
        tx.update(account, kind, rec["id"], rec)
    return {}


def delete_owned(
    ctx: OperationContext, action: str, owner: str, kind: Kind, rec_id: str, not_found: NotFound, *, root: bool = False
) -> dict[str, Any]:
    """The Delete* operation of a kind: authorize on the owner, delete the owner's record."""
    account = account_of(ctx)
    target = authorize_owner(ctx, action, owner, root=root)
    with ctx.write(account) as tx:
        rec = require_owned(tx, account, kind, require_owner(tx, account, target), rec_id, not_found)
        tx.delete(account, kind, rec["id"])
    return {}

"""Long-term access keys of IAM users and of the account's root user.

The secret is sealed with the SecretBox under ``access-key:<id>`` before it is stored
and is returned exactly once, by CreateAccessKey. Root's keys are ``access_key``
records whose ``user`` is ``""`` (records.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tessera.arn import root_arn
from tessera.errors import NoSuchEntityException, ValidationError
from tessera.services import records as R
from tessera.services.accounts import add_access_key
from tessera.services.iam import quotas
from tessera.services.iam.entities import (
    USER,
    Target,
    account_of,
    authorize_target,
    ensure_quota,
    last_use,
    parse_time,
    require_resolved,
    require_target,
    resolve,
    view_records,
)
from tessera.services.iam.paging import creation_key, next_sequence, paginate
from tessera.services.request import OperationContext, operation
from tessera.services.view import name_key
from tessera.store.base import Transaction

ROOT = ""


def key_owner(ctx: OperationContext, params: Mapping[str, Any]) -> str:
    """Whose keys a request is about: ``UserName``, else the calling user, else root
    (``""``) when the caller is the root user."""
    name = params.get("UserName")
    if name:
        return str(name)
    if ctx.caller.kind == "user":
        return ctx.caller.name
    if ctx.caller.kind == "root":
        return ROOT
    raise ValidationError("Must specify userName when calling with non-User credentials")


def _authorize(ctx: OperationContext, action: str, owner: str) -> Target[R.UserRecord] | None:
    """Authorize ``action`` on the keys' owner: root's ARN, or the resolved user (returned,
    so the write checks it still changes that user)."""
    if owner == ROOT:
        ctx.authorize(action, root_arn(account_of(ctx)))
        return None
    target = resolve(ctx, USER, owner)
    authorize_target(ctx, action, target)
    return target


def _owner_keys(tx: Transaction, account: str, owner: str) -> list[R.AccessKeyRecord]:
    keys = (R.load(R.ACCESS_KEY, dict(r.data)) for r in tx.list(account, R.ACCESS_KEY))
    return [k for k in keys if name_key(k["user"]) == name_key(owner)]


def _require_owner(tx: Transaction, account: str, target: Target[R.UserRecord] | None) -> str:
    """The owner's stored name, ``ROOT`` for root (NoSuchEntity for a missing user)."""
    return ROOT if target is None else require_target(tx, account, target)["name"]


def _metadata(rec: R.AccessKeyRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "AccessKeyId": rec["id"],
        "Status": rec["status"],
        "CreateDate": parse_time(rec["created"]),
    }
    if rec["user"]:
        out["UserName"] = rec["user"]
    return out


@operation("iam", "CreateAccessKey")
def create_access_key(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account = account_of(ctx)
    target = _authorize(ctx, "iam:CreateAccessKey", key_owner(ctx, params))
    with ctx.write(account) as tx:
        owner = _require_owner(tx, account, target)
        owned = _owner_keys(tx, account, owner)
        ensure_quota(len(owned), quotas.ACCESS_KEYS_PER_USER, "AccessKeysPerUser")
        rec, secret = add_access_key(tx, ctx.runtime.secret_box, account, user=owner, now=ctx.now, seq=next_sequence(owned))
    return {"AccessKey": {**_metadata(rec), "SecretAccessKey": secret}}


def _require_key(tx: Transaction, account: str, owner: str, key_id: str) -> R.AccessKeyRecord:
    rec = tx.get(account, R.ACCESS_KEY, key_id)
    key = R.load(R.ACCESS_KEY, dict(rec.data)) if rec is not None else None
    if key is None or name_key(key["user"]) != name_key(owner):
        raise NoSuchEntityException(f"The Access Key with id {key_id} cannot be found.")
    return key


@operation("iam", "UpdateAccessKey")
def update_access_key(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account, status = account_of(ctx), params["Status"]
    target = _authorize(ctx, "iam:UpdateAccessKey", key_owner(ctx, params))
    if status not in ("Active", "Inactive"):
        raise ValidationError(
            f"1 validation error detected: Value '{status}' at 'status' failed to satisfy constraint: "
            "Member must satisfy enum value set: [Active, Inactive]"
        )
    with ctx.write(account) as tx:
        owner = _require_owner(tx, account, target)
        rec = _require_key(tx, account, owner, params["AccessKeyId"])
        rec["status"] = status
        tx.update(account, R.ACCESS_KEY, rec["id"], rec)
    return {}


@operation("iam", "DeleteAccessKey")
def delete_access_key(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account = account_of(ctx)
    target = _authorize(ctx, "iam:DeleteAccessKey", key_owner(ctx, params))
    with ctx.write(account) as tx:
        owner = _require_owner(tx, account, target)
        rec = _require_key(tx, account, owner, params["AccessKeyId"])
        tx.delete(account, R.ACCESS_KEY, rec["id"])
    return {}


@operation("iam", "ListAccessKeys", read_only=True)
def list_access_keys(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    target = _authorize(ctx, "iam:ListAccessKeys", key_owner(ctx, params))
    owner = ROOT if target is None else str(require_resolved(target)["name"])
    keys = [k for k in view_records(ctx, R.ACCESS_KEY) if name_key(str(k["user"])) == name_key(owner)]
    page = paginate(keys, lambda k: creation_key(k, "created"), params.get("Marker"), params.get("MaxItems"))
    return page.output("AccessKeyMetadata", _metadata)


@operation("iam", "GetAccessKeyLastUsed", read_only=True)
def get_access_key_last_used(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    """Any key of the caller's account; the user who owns it is the resource authorized."""
    key_id = params["AccessKeyId"]
    state = ctx.runtime.view.account(account_of(ctx))
    rec = state.access_keys.get(key_id) if state is not None else None
    if rec is None:
        ctx.authorize("iam:GetAccessKeyLastUsed", "*")
        raise NoSuchEntityException(f"The Access Key with id {key_id} cannot be found.")
    _authorize(ctx, "iam:GetAccessKeyLastUsed", str(rec["user"]))
    used = last_use(ctx, "access_key", key_id) or {}
    last: dict[str, Any] = {"ServiceName": used.get("service") or "N/A", "Region": used.get("region") or "N/A"}
    if used.get("date"):
        last["LastUsedDate"] = parse_time(used["date"])
    out: dict[str, Any] = {"AccessKeyLastUsed": last}
    if rec["user"]:
        out["UserName"] = rec["user"]
    return out

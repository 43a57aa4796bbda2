"""Long-term access keys of IAM users and of the account's root user.

The secret is sealed with the SecretBox under ``access-key:<id>`` before it is stored
and is returned exactly once, by CreateAccessKey. Root's keys are ``access_key``
records whose ``user`` is ``""`` (records.py).
"""

from __future__ import annotations

from typing import Any

from tessera.errors import NoSuchEntityException
from tessera.services import records as R
from tessera.services.accounts import add_access_key
from tessera.services.iam import quotas
from tessera.services.iam.entities import (
    account_of,
    ensure_quota,
    last_use,
    parse_time,
)
from tessera.services.iam.paging import creation_key, next_sequence, paginate
from tessera.services.iam.user_credentials import (
    authorize_owner,
    delete_owned,
    owner_or_root,
    require_owner,
    update_status,
    view_owned,
)
from tessera.services.request import OperationContext, operation


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
    target = authorize_owner(ctx, "iam:CreateAccessKey", owner_or_root(ctx, params), root=True)
    with ctx.write(account) as tx:
        owner = require_owner(tx, account, target)
        keys = [R.load(R.ACCESS_KEY, r.data) for r in tx.list_by(account, R.ACCESS_KEY, "user", owner)]
        ensure_quota(len(keys), quotas.ACCESS_KEYS_PER_USER, "AccessKeysPerUser")
        rec, secret = add_access_key(tx, ctx.runtime.secret_box, account, user=owner, now=ctx.now, seq=next_sequence(keys))
    return {"AccessKey": {**_metadata(rec), "SecretAccessKey": secret}}


def _not_found(key_id: str, owner: str = "") -> NoSuchEntityException:
    return NoSuchEntityException(f"The Access Key with id {key_id} cannot be found.")


@operation("iam", "UpdateAccessKey")
def update_access_key(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    owner = owner_or_root(ctx, params)
    return update_status(ctx, "iam:UpdateAccessKey", owner, R.ACCESS_KEY, params["AccessKeyId"], params["Status"], _not_found, root=True)


@operation("iam", "DeleteAccessKey")
def delete_access_key(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    owner = owner_or_root(ctx, params)
    return delete_owned(ctx, "iam:DeleteAccessKey", owner, R.ACCESS_KEY, params["AccessKeyId"], _not_found, root=True)


@operation("iam", "ListAccessKeys", read_only=True)
def list_access_keys(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    target = authorize_owner(ctx, "iam:ListAccessKeys", owner_or_root(ctx, params), root=True)
    keys = view_owned(ctx, R.ACCESS_KEY, target)
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
        raise _not_found(key_id)
    authorize_owner(ctx, "iam:GetAccessKeyLastUsed", str(rec["user"]), root=True)
    used = last_use(ctx, "access_key", key_id) or {}
    last: dict[str, Any] = {"ServiceName": used.get("service") or "N/A", "Region": used.get("region") or "N/A"}
    if used.get("date"):
        last["LastUsedDate"] = parse_time(used["date"])
    out: dict[str, Any] = {"AccessKeyLastUsed": last}
    if rec["user"]:
        out["UserName"] = rec["user"]
    return out

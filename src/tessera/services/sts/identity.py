"""Who a session is, and the two calls that answer "who": GetCallerIdentity and
GetAccessKeyInfo (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html)."""

from __future__ import annotations

import binascii
from typing import Any

from tessera.arn import assumed_role_arn, federated_user_arn
from tessera.auth.caller import Caller, SessionClaims
from tessera.auth.tokens import account_from_access_key_id
from tessera.errors import InvalidParameterValue
from tessera.services.request import OperationContext, operation


def session_caller(claims: SessionClaims) -> Caller:
    """The caller an unsealed, unexpired session token stands for.

    Role sessions are ``assumed-role`` principals named by the session ARN (the role
    path is dropped); GetFederationToken sessions are ``federated-user`` principals;
    GetSessionToken credentials act as the user (or root) that asked for them, so
    policies and GetCallerIdentity see the long-term identity."""
    if claims.kind == "assumed-role":
        return Caller(
            kind="assumed-role",
            account=claims.account,
            arn=assumed_role_arn(claims.account, claims.role_name, claims.session_name),
            user_id=f"{claims.role_id}:{claims.session_name}",
            name=claims.role_name,
            access_key_id=claims.access_key_id,
            session=claims,
        )
    if claims.kind == "federation-token":
        return Caller(
            kind="federated-user",
            account=claims.account,
            arn=federated_user_arn(claims.account, claims.session_name),
            user_id=f"{claims.account}:{claims.session_name}",
            name=claims.session_name,
            access_key_id=claims.access_key_id,
            session=claims,
        )
    if claims.source_arn.endswith(":root"):
        return Caller(
            kind="root",
            account=claims.account,
            arn=claims.source_arn,
            user_id=claims.account,
            name="",
            access_key_id=claims.access_key_id,
            session=claims,
        )
    return Caller(
        kind="user",
        account=claims.account,
        arn=claims.source_arn,
        user_id=claims.source_user_id,
        name=claims.source_arn.rsplit("/", 1)[-1],
        access_key_id=claims.access_key_id,
        session=claims,
    )


@operation("sts", "GetCallerIdentity", authorize=False, inline=True, read_only=True)
def get_caller_identity(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    """Never authorized: AWS answers even under an explicit Deny."""
    caller = ctx.caller
    return {"UserId": caller.user_id, "Account": caller.account, "Arn": caller.arn}


@operation("sts", "GetAccessKeyInfo", inline=True, read_only=True)
def get_access_key_info(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    """The account that owns a key id, whoever owns it and whatever its status.

    Long-term keys are found in the view (ids an operator supplied need not follow AWS's
    layout). Any other id is answered from the account its layout encodes, without
    consulting whether that account, or the key, exists: AWS's answer "does not indicate
    the state of the access key"
    (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetAccessKeyInfo.html),
    and an answer that depended on it would let anyone probe which account ids this
    server holds. Only an id that encodes no account at all is refused."""
    ctx.authorize("sts:GetAccessKeyInfo", "*")
    key_id = params["AccessKeyId"]
    account = ctx.runtime.view.account_for_key(key_id)
    if account is not None:
        return {"Account": account.account_id}
    encoded = _encoded_account(key_id)
    if encoded is not None:
        return {"Account": encoded}
    raise InvalidParameterValue(f"The access key ID '{key_id}' is not valid.")


def _encoded_account(key_id: str) -> str | None:
    """The account AWS's key-id layout encodes in ``key_id``, or None if it is not 20
    characters of base32 after the prefix or encodes more than 12 digits."""
    if len(key_id) != 20:
        return None
    try:
        account = account_from_access_key_id(key_id)
    except (binascii.Error, ValueError):
        return None
    return account if len(account) == 12 else None

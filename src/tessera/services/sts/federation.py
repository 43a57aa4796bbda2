"""GetSessionToken and GetFederationToken: temporary credentials for a long-term
identity (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetFederationToken.html)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tessera.arn import federated_user_arn
from tessera.auth.caller import Caller
from tessera.errors import AccessDenied
from tessera.services.request import OperationContext, operation
from tessera.services.sts.credentials import issue_credentials, issue_own_session, session_window
from tessera.services.sts.mfa import authenticate_mfa, mfa_requested
from tessera.services.sts.session_policies import packed_policy_size, session_policies
from tessera.services.sts.session_tags import session_tags

USER_DEFAULT_DURATION = 43200
ROOT_MAX_DURATION = 3600


@operation("sts", "GetSessionToken", authorize=False, inline=True, inline_unless=("SerialNumber", "TokenCode"))
def get_session_token(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    """No policy can allow or deny it; only long-term keys may call it. The session acts
    as the user (or root) itself, with MFA recorded when a valid code was given."""
    caller = _long_term_caller(ctx.caller, "GetSessionToken")
    duration = _duration(params, caller)
    mfa = mfa_requested(params)
    if mfa:
        authenticate_mfa(ctx.runtime, caller, params["SerialNumber"], params["TokenCode"], ctx.now)
    credentials = issue_own_session(
        ctx.runtime, caller, kind="session-token", now=ctx.now, seconds=duration, mfa=mfa, source_ip=ctx.info.source_ip
    )
    return {"Credentials": credentials}


@operation("sts", "GetFederationToken", inline=True)
def get_federation_token(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    """A federated-user session whose permissions are the calling user's intersected
    with the session policies passed here (none passed: no identity permissions)."""
    caller = _long_term_caller(ctx.caller, "GetFederationToken")
    name = params["Name"]
    resource = federated_user_arn(caller.account, name)
    tags = session_tags(params, caller, allow_transitive=False)
    policies = session_policies(ctx.runtime, params, caller.account)
    packed = packed_policy_size(policies, tags.passed)
    context = tags.request_context()
    ctx.authorize("sts:GetFederationToken", resource, context=context)
    if tags.requested:
        ctx.authorize("sts:TagSession", resource, context=context)
    issued, expires = session_window(ctx.now, _duration(params, caller))
    _, credentials = issue_credentials(
        ctx.runtime,
        kind="federation-token",
        account=caller.account,
        issued_at=issued,
        expires_at=expires,
        session_name=name,
        source_arn=caller.arn,
        source_user_id=caller.user_id,
        session_policies=policies.inline,
        session_policy_arns=policies.arns,
        tags=tags.passed,
        source_ip=ctx.info.source_ip,
    )
    result: dict[str, Any] = {
        "Credentials": credentials,
        "FederatedUser": {"FederatedUserId": f"{caller.account}:{name}", "Arn": resource},
    }
    if packed is not None:
        result["PackedPolicySize"] = packed
    return result


def _long_term_caller(caller: Caller, operation_name: str) -> Caller:
    """Both calls need long-term keys of an IAM user or the root user."""
    if caller.session is not None or caller.kind not in ("user", "root"):
        raise AccessDenied(f"Cannot call {operation_name} with session credentials")
    return caller


def _duration(params: Mapping[str, Any], caller: Caller) -> int:
    """Users: 900..129600, default 43200 (the model bounds the range). Root: at most
    3600, longer requests silently shortened, default 3600."""
    requested = params.get("DurationSeconds")
    if caller.kind == "root":
        return min(requested or ROOT_MAX_DURATION, ROOT_MAX_DURATION)
    return requested or USER_DEFAULT_DURATION

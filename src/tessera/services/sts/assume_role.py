"""AssumeRole (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html).

The hot path: without MFA the call reads only the in-memory view and writes nothing
(the session lives in its sealed token), so it runs on the event loop. Order of checks:

1. the caller may assume roles at all (not root, not a federated user — authorization.py);
2. the request's own parameters (tags, source identity, inline session policy, number
   of policy ARNs, packed size), which say nothing about the role;
3. MFA, when SerialNumber and TokenCode are given (store I/O: the code is consumed;
   failures are rate-limited per caller and device);
4. authorization against the role's trust policy with the full trust context — an
   unknown role is evaluated against a trust policy that trusts no one, so the answer
   and its message are exactly those of a role that does not trust the caller;
5. ``sts:TagSession`` / ``sts:SetSourceIdentity`` on the same role, when used (tags
   passed, or transitive tags the calling session carries down the chain);
6. the ``PolicyArns`` against the policies of the role's account, the duration against
   the role's MaxSessionDuration and the role-chaining cap (after authorization, so
   only a trusted caller learns whether a policy exists there, or the role's limit).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tessera.arn import Arn, assumed_role_arn
from tessera.auth.caller import Caller
from tessera.errors import ValidationError
from tessera.policy import Policy, PolicyType
from tessera.services import records as R
from tessera.services.authorization import access_denied, refuse_session_kind
from tessera.services.request import OperationContext, operation
from tessera.services.runtime import Runtime
from tessera.services.sts.credentials import issue_credentials, session_window
from tessera.services.sts.mfa import authenticate_mfa, mfa_requested
from tessera.services.sts.session_policies import (
    SessionPolicies,
    packed_policy_size,
    requested_session_policies,
    resolve_managed_policies,
)
from tessera.services.sts.session_tags import SessionTags, session_tags
from tessera.services.trust import effective_trust_policy

DEFAULT_DURATION = 3600
CHAINED_MAX_DURATION = 3600
OVER_ROLE_MAX = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
OVER_CHAIN_MAX = "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."

NO_TRUST = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
    '"Principal":{"Service":"no-such-role.tessera.invalid"},'
    '"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"]}]}'
)
"""The trust policy of a role that does not exist: it trusts no caller, so AccessDenied
for an unknown role is indistinguishable from one for a role that does not trust you."""


@dataclass(slots=True)  # per request: frozen slots would cost a setattr call per field
class TargetRole:
    """The role named by RoleArn, as far as the caller may learn it."""

    arn: str
    account: str
    trust: Policy
    record: R.RoleRecord | None  # None: no such role


@dataclass(slots=True)  # per request: frozen slots would cost a setattr call per field
class Mfa:
    """The MFA state the new session starts with; ``fresh`` when this call authenticated
    (the caller's own MFA state is already among its request keys otherwise)."""

    present: bool
    auth_time: dt.datetime | None
    fresh: bool = False


@operation("sts", "AssumeRole", inline=True, inline_unless=("SerialNumber", "TokenCode"))
def assume_role(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    caller, runtime = ctx.caller, ctx.runtime
    # The kind of credentials is decided here, before the RoleArn is parsed or an MFA
    # code looked at: root and federated callers get their AccessDenied whatever else
    # is wrong with the request, and cannot use AssumeRole to try MFA codes. The checks
    # of ``ctx.authorize`` below reuse this decision (``refuse_session_kind``).
    refuse_session_kind(ctx, "sts:AssumeRole", params["RoleArn"])
    role = target_role(runtime, params["RoleArn"])
    session_name = params["RoleSessionName"]
    source_identity = _source_identity(params, caller, role.arn)
    tags = session_tags(params, caller)
    policies = requested_session_policies(runtime, params)
    packed = packed_policy_size(policies, tags.passed)
    mfa = _mfa(ctx, params)
    context = trust_context(params, role, tags, source_identity, mfa)
    _authorize(ctx, role, context, tags, source_identity)
    resolve_managed_policies(runtime, policies, role.account)
    chained = caller.kind == "assumed-role"  # role chaining: a role session assuming a role
    duration = role_session_duration(params, role, chained=chained)
    return issue_role_session(
        ctx,
        role,
        session_name,
        policies=policies,
        tags=tags,
        source_identity=source_identity,
        window=session_window(ctx.now, duration),
        packed=packed,
        mfa=mfa,
        chained=chained,
    )


def issue_role_session(
    ctx: OperationContext,
    role: TargetRole,
    session_name: str,
    *,
    policies: SessionPolicies,
    tags: SessionTags,
    source_identity: str,
    window: tuple[dt.datetime, dt.datetime],
    packed: int | None,
    mfa: Mfa | None = None,
    chained: bool = False,
    federated_provider: str = "",
) -> dict[str, Any]:
    """Issue the assumed-role session of AssumeRole, AssumeRoleWithSAML and
    AssumeRoleWithWebIdentity; returns the output members they share (``Credentials``,
    ``AssumedRoleUser``, ``PackedPolicySize``, ``SourceIdentity``)."""
    record = role.record
    assert record is not None  # INVARIANT: authorization against NO_TRUST never allows
    _, credentials = issue_credentials(
        ctx.runtime,
        kind="assumed-role",
        account=role.account,
        issued_at=window[0],
        expires_at=window[1],
        session_name=session_name,
        role_arn=record["arn"],
        role_id=record["id"],
        role_name=record["name"],
        session_policies=policies.inline,
        session_policy_arns=policies.arns,
        tags=tags.all,
        transitive_tag_keys=tags.transitive_keys,
        source_identity=source_identity,
        mfa_authenticated=mfa is not None and mfa.present,
        mfa_auth_time=mfa.auth_time if mfa is not None else None,
        chained=chained,
        source_ip=ctx.info.source_ip,
        federated_provider=federated_provider,
    )
    result: dict[str, Any] = {
        "Credentials": credentials,
        "AssumedRoleUser": {
            "AssumedRoleId": f"{record['id']}:{session_name}",
            "Arn": assumed_role_arn(role.account, record["name"], session_name),
        },
    }
    if packed is not None:
        result["PackedPolicySize"] = packed
    if source_identity:
        result["SourceIdentity"] = source_identity
    return result


def target_role(runtime: Runtime, role_arn: str) -> TargetRole:
    """Resolve RoleArn exactly (path and case included) to the role and its trust policy.

    A malformed ARN is a ValidationError (its shape says nothing about any role); a
    well-formed ARN naming no role yields a target with the trust-no-one policy."""
    account_id, name = _parse_role_arn(role_arn)
    account = runtime.view.account(account_id)
    record = account.role(name) if account is not None else None
    if record is None or record["arn"] != role_arn:
        return TargetRole(role_arn, account_id, runtime.view.policies.get(NO_TRUST, PolicyType.TRUST, "no-such-role"), None)
    text = effective_trust_policy(runtime.view, record)  # names of deleted principals no longer match
    trust = runtime.view.policies.get(text, PolicyType.TRUST, record["arn"])
    return TargetRole(role_arn, account_id, trust, record)


def trust_context(
    params: Mapping[str, Any],
    role: TargetRole,
    tags: SessionTags,
    source_identity: str,
    mfa: Mfa,
) -> dict[str, object]:
    """The keys AssumeRole adds to the caller's own while the trust policy is evaluated
    (trust-policy evaluation): session name, external id, source identity, requested tags, the
    role's tags (overridden by inherited transitive tags), and this call's MFA."""
    context: dict[str, object] = {
        "sts:RoleSessionName": params["RoleSessionName"],
        "sts:DurationSeconds": params.get("DurationSeconds") or DEFAULT_DURATION,
    }
    if params.get("ExternalId") is not None:
        context["sts:ExternalId"] = params["ExternalId"]
    if source_identity:
        context["sts:SourceIdentity"] = source_identity
    context.update(tags.request_context())
    if role.record is not None:
        context.update(tags.resource_context(role.record["tags"]))
    if mfa.fresh:
        context["aws:MultiFactorAuthPresent"] = True
        context["aws:MultiFactorAuthAge"] = 0
    return context


def _authorize(
    ctx: OperationContext,
    role: TargetRole,
    context: Mapping[str, object],
    tags: SessionTags,
    source_identity: str,
) -> None:
    """sts:AssumeRole, then sts:TagSession and sts:SetSourceIdentity on the same role
    with the same context, each against the trust policy (and, cross-account or
    when the trust names the account, the caller's own policies)."""
    authorize = ctx.authorize
    authorize("sts:AssumeRole", role.arn, resource_account=role.account, context=context, resource_policy=role.trust)
    if tags.tagging:  # inherited transitive tags too: they are set on the new session
        authorize("sts:TagSession", role.arn, resource_account=role.account, context=context, resource_policy=role.trust)
    if source_identity:
        authorize("sts:SetSourceIdentity", role.arn, resource_account=role.account, context=context, resource_policy=role.trust)


def _source_identity(params: Mapping[str, Any], caller: Caller, role_arn: str) -> str:
    """The passed SourceIdentity, or the one the calling session carries; once set it
    cannot change down the chain (a different value is refused as unauthorized).
    The model's pattern already rejects the reserved ``aws:`` prefix (``:`` is not allowed)."""
    passed = params.get("SourceIdentity") or ""
    inherited = caller.session.source_identity if caller.session is not None else ""
    if inherited and passed and passed != inherited:
        raise access_denied(caller, "sts:SetSourceIdentity", role_arn, None)
    return passed or inherited


def _mfa(ctx: OperationContext, params: Mapping[str, Any]) -> Mfa:
    """This call's MFA if given (and valid), else the MFA state of the calling session."""
    if mfa_requested(params):
        authenticate_mfa(ctx.runtime, ctx.caller, params["SerialNumber"], params["TokenCode"], ctx.now)
        return Mfa(True, ctx.now, fresh=True)
    session = ctx.caller.session
    if session is not None and session.mfa_authenticated:
        return Mfa(True, session.mfa_auth_time)
    return Mfa(False, None)


def role_session_duration(params: Mapping[str, Any], role: TargetRole, *, chained: bool) -> int:
    requested = params.get("DurationSeconds")
    duration = requested if requested is not None else DEFAULT_DURATION
    if chained and duration > CHAINED_MAX_DURATION:
        raise ValidationError(OVER_CHAIN_MAX)
    assert role.record is not None  # INVARIANT: only called after authorization succeeded
    if duration > int(role.record["max_session_duration"] or DEFAULT_DURATION):
        raise ValidationError(OVER_ROLE_MAX)
    return duration


def _parse_role_arn(role_arn: str) -> tuple[str, str]:
    arn = Arn.parse(role_arn)
    valid = (
        arn is not None
        and arn.service == "iam"
        and arn.region == ""
        and len(arn.account) == 12
        and arn.account.isdigit()
        and arn.resource.startswith("role/")
        and arn.resource_name != ""
    )
    if arn is None or not valid:
        raise ValidationError(f"{role_arn} is invalid")
    return arn.account, arn.resource_name

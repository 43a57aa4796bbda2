"""Authorization of a request: gather the caller's policies and context, ask the engine.

Everything that decides "allowed or not" goes through ``tessera.policy.evaluate``;
this module only collects its inputs — the policy set of the calling principal
(identity policies, boundary, session policies, SCPs) and the request context keys —
and turns a refusal into AWS's AccessDenied message
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html).
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol

from tessera.arn import assumed_role_arn
from tessera.auth.caller import Caller
from tessera.auth.memo import memoised
from tessera.errors import AccessDenied, DecidingStatement, Denial, DeniedPrincipal
from tessera.policy import (
    Decision,
    DecisionResult,
    Policy,
    PolicySet,
    PolicyType,
    PreparedSet,
    Principal,
    Request,
    lowered_names,
)
from tessera.services import records as R
from tessera.services.request_info import RequestInfo
from tessera.services.runtime import ALLOW_ALL, DENY_ALL, Runtime

if TYPE_CHECKING:
    from tessera.services.view import AccountState


class RequestContext(Protocol):
    """What authorization reads of a request: ``services.request.OperationContext``
    (which calls this module, hence a protocol rather than an import)."""

    runtime: Runtime
    caller: Caller
    info: RequestInfo
    operation: str
    decisions: list[Decision]
    kind_cleared: set[str]

    def base_context(self) -> dict[str, object]:
        """``base_context(self)``, computed once per request."""
        ...


PRINCIPAL_TYPE = {
    "root": "Account",
    "user": "User",
    "assumed-role": "AssumedRole",
    "federated-user": "FederatedUser",
    "anonymous": "Anonymous",
    "saml-user": "WebIdentityUser",
}


def engine_principal(caller: Caller) -> Principal:
    """The caller as the engine sees it; ``role_arn`` names the identity a session
    derives from (the role, or the IAM user that created a federation token)."""
    role_arn = ""
    if caller.session is not None and caller.kind == "assumed-role":
        role_arn = caller.session.role_arn
    elif caller.session is not None and caller.kind == "federated-user":
        role_arn = caller.session.source_arn
    return Principal(kind=caller.kind, arn=caller.arn, account=caller.account, role_arn=role_arn, user_id=caller.user_id)


def principal_arn_key(caller: Caller) -> str:
    """``aws:PrincipalArn``: the role ARN (not the session ARN) for role sessions."""
    if caller.kind == "assumed-role" and caller.session is not None:
        return caller.session.role_arn
    return caller.arn


def principal_tags(ctx: RequestContext) -> dict[str, str]:
    """User tags; for role sessions role tags overridden by session tags (keys case-insensitive)."""
    return dict(caller_profile(ctx.runtime, ctx.caller).tags)


def _principal_tags(rec: R.UserRecord | R.RoleRecord | None, caller: Caller) -> dict[str, str]:
    tags: dict[str, tuple[str, str]] = {}
    for tag in rec["tags"] if rec is not None else ():
        tags[tag["Key"].lower()] = (tag["Key"], tag["Value"])
    if caller.session is not None:
        for stag in caller.session.tags:
            tags[stag.key.lower()] = (stag.key, stag.value)
    return dict(tags.values())


def acting_record(account: AccountState, caller: Caller) -> R.UserRecord | R.RoleRecord | None:
    """The IAM user or role whose policies and tags govern ``caller``, or None (root, or
    a principal deleted since). A session names its role or user by unique id, so one
    deleted and recreated under the same name is not the session's."""
    session = caller.session
    rec: R.UserRecord | R.RoleRecord | None
    if caller.kind == "assumed-role" and session is not None:
        rec = account.roles_by_id.get(session.role_id)
    elif caller.kind == "federated-user" and session is not None:
        rec = account.users_by_id.get(session.source_user_id)
    elif caller.kind == "user":
        rec = account.users_by_id.get(session.source_user_id if session is not None else caller.user_id)
    else:
        rec = None
    return rec


#: The most of the User-Agent header that ``aws:UserAgent`` carries. AWS documents no
#: limit; the header is whatever the client sends (and AWS warns the key must not be
#: relied on for authorization, since the client chooses it:
#: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-useragent).
#: Every wildcard in every policy that tests the key reads it, so it is cut to the
#: length of the longest other request value a policy compares (2 048-character ARNs)
#: halved: real SDK user agents are 100–400 characters. A client gains nothing from
#: the cut it could not get by sending a shorter header.
USER_AGENT_CONTEXT_LIMIT = 1024


@memoised(maxsize=4096)
def source_ip(text: str) -> object:
    """``aws:SourceIp`` as an address object, parsed once per distinct client address
    (the engine reads either form; parsing per request costs more than evaluating)."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return text


def _request_keys(info: RequestInfo) -> dict[str, object]:
    """The global condition keys a request has whoever makes it: how and when it came."""
    return _set_request_keys({}, info)


def _set_request_keys(keys: dict[str, object], info: RequestInfo) -> dict[str, object]:
    """``keys`` with ``_request_keys(info)`` set in it, in that order."""
    now = info.received_at
    keys["aws:PrincipalIsAWSService"] = False
    keys["aws:ViaAWSService"] = False
    keys["aws:SourceIp"] = source_ip(info.source_ip)
    keys["aws:SecureTransport"] = info.secure_transport
    keys["aws:CurrentTime"] = now
    keys["aws:EpochTime"] = int(now.timestamp())
    keys["aws:RequestedRegion"] = info.region
    keys["aws:UserAgent"] = info.user_agent[:USER_AGENT_CONTEXT_LIMIT]
    return keys


#: The most entries (two per caller) of profiles one account state keeps
#: (``caller_profile``); a state that gathers more (a flood of distinct sessions between
#: two writes) starts afresh. A profile holds dicts and references to policies its state
#: holds anyway (a few KB); a session with an inline session policy gets no kept profile,
#: so its compiled policy stays bounded by the policy cache's byte budget alone.
MAX_CALLER_PROFILES = 1024


class CallerProfile:
    """What authorization derives from a caller and its account's state alone, kept on
    that state (``AccountState.caller_profiles``): a write to the account installs a new
    state, with no profiles, so a profile never outlives what it was derived from. The
    organization (SCPs, ``aws:PrincipalOrg…``) and everything of the request are read
    per request as before.

    Measured with ``valgrind --tool=callgrind --toggle-collect=functools_reduce python -m
    bench.authz_instructions authorize 200``: base_context and caller_policies were about
    35 k instructions each per authorization, twice per AuthorizeRequest (the resource
    server's and the client's): with the profiles, 1 176 k -> 1 084 k instructions per
    AuthorizeRequest."""

    __slots__ = (
        "_principal",
        "boundary",
        "caller",
        "head",
        "identity",
        "mfa_auth_time",
        "policy_set",
        "prepared",
        "session",
        "session_tail",
        "tags",
        "tail",
    )

    def __init__(self, runtime: Runtime, caller: Caller, account: AccountState | None) -> None:
        self.caller = caller
        self._principal: Principal | None = None
        self.head: dict[str, object] = {
            "aws:PrincipalArn": principal_arn_key(caller),
            "aws:PrincipalAccount": caller.account,
            "aws:PrincipalType": PRINCIPAL_TYPE[caller.kind],
            "aws:userid": caller.user_id,
        }
        rec = acting_record(account, caller) if account is not None else None
        self.tags = _principal_tags(rec, caller)
        tail: dict[str, object] = {}
        if caller.kind == "user":
            tail["aws:username"] = caller.name
        for key, value in self.tags.items():
            tail[f"aws:PrincipalTag/{key}"] = value
        session = caller.session
        self.mfa_auth_time: dt.datetime | None = None
        self.session_tail: dict[str, object] = {}
        if session is not None:
            tail["aws:TokenIssueTime"] = session.issued_at
            tail["aws:MultiFactorAuthPresent"] = session.mfa_authenticated
            if session.mfa_authenticated and session.mfa_auth_time is not None:
                self.mfa_auth_time = session.mfa_auth_time
            if session.source_identity:
                self.session_tail["aws:SourceIdentity"] = session.source_identity
            if session.federated_provider:
                self.session_tail["aws:FederatedProvider"] = session.federated_provider
        self.tail = tail
        self.identity, self.boundary, self.session = _caller_policy_parts(runtime, caller, account, rec)
        self.policy_set: PolicySet | None = None  # without a resource policy, for the SCPs it holds
        self.prepared: PreparedSet | None = None  # of ``policy_set``, for the decision memo

    @property
    def principal(self) -> Principal:
        """The caller as the engine sees it (``engine_principal``)."""
        principal = self._principal
        if principal is None:
            principal = self._principal = engine_principal(self.caller)
        return principal

    def policies(self, resource_policy: Policy | None, scps: Sequence[Sequence[Policy]] | None) -> PolicySet:
        """The caller's policy set with ``resource_policy`` and the SCP levels ``scps``."""
        if resource_policy is None:
            cached = self.policy_set
            if cached is not None and cached.scps is scps:
                return cached
        policies = PolicySet(identity=self.identity, resource=resource_policy, boundary=self.boundary, session=self.session, scps=scps)
        if resource_policy is None:
            self.policy_set = policies
        return policies

    def prepared_for(self, policies: PolicySet) -> PreparedSet | None:
        """``policies`` prepared for the decision memo, when it is this caller's set
        without a resource policy (kept with it); None otherwise."""
        if policies is not self.policy_set:
            return None
        prepared = self.prepared
        if prepared is None or prepared.policies is not policies:
            prepared = self.prepared = PreparedSet(policies)
        return prepared


def caller_profile(runtime: Runtime, caller: Caller) -> CallerProfile:
    """``caller``'s profile, from its account's current state (built on first use)."""
    account = runtime.view.account(caller.account)
    if account is None:
        return CallerProfile(runtime, caller, None)
    profiles = account.caller_profiles
    # First by the caller object itself (the credential resolver answers a long-term key
    # with the same one while the account is unchanged): a dataclass's generated
    # ``__hash__`` is Python code, and this runs five times per AuthorizeRequest. The
    # profile holds its caller, so an id found with that very caller is not a reused one.
    # bench.authz_instructions authorize 200 (callgrind): 941 k -> 937 k instructions.
    profile: CallerProfile | None = profiles.get(id(caller))
    if profile is not None and profile.caller is caller:
        return profile
    profile = profiles.get(caller)
    if profile is None:
        profile = CallerProfile(runtime, caller, account)
        session = caller.session
        # derived from this state alone, and holding nothing the policy cache does not bound
        if session is None or (session.account == caller.account and not session.session_policies):
            if len(profiles) >= MAX_CALLER_PROFILES:
                profiles.clear()
            profiles[caller] = profile
            profiles[id(caller)] = profile
    return profile


def base_context(ctx: RequestContext) -> dict[str, object]:
    """The global condition keys of this request (``ctx.base_context()`` keeps them)."""
    caller, info = ctx.caller, ctx.info
    profile = caller_profile(ctx.runtime, caller)
    # ``{**profile.head, **_request_keys(info), **profile.tail}``, the request's keys set
    # in place rather than gathered in a dict of their own first
    keys = _set_request_keys({**profile.head}, info)
    keys.update(profile.tail)
    if profile.mfa_auth_time is not None:
        keys["aws:MultiFactorAuthAge"] = max(0, int((info.received_at - profile.mfa_auth_time).total_seconds()))
    if profile.session_tail:
        keys.update(profile.session_tail)
    org = ctx.runtime.org.principal_org(caller.account)
    if org is not None:
        keys["aws:PrincipalOrgID"] = org[0]
        keys["aws:PrincipalOrgPaths"] = list(org[1])
    return keys


def caller_policies(ctx: RequestContext, resource_policy: Policy | None = None) -> PolicySet:
    """The policy set that governs the caller's requests
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html)."""
    caller, runtime = ctx.caller, ctx.runtime
    return caller_profile(runtime, caller).policies(resource_policy, runtime.org.scps_for(caller.account))


def _caller_policy_parts(
    runtime: Runtime, caller: Caller, account: AccountState | None, rec: R.UserRecord | R.RoleRecord | None
) -> tuple[tuple[Policy, ...], Policy | None, tuple[Policy, ...]]:
    """The caller's identity policies, permissions boundary and session policies."""
    view = runtime.view
    identity: tuple[Policy, ...] = ()
    boundary: Policy | None = None
    session_policies: tuple[Policy, ...] = ()
    session = caller.session
    if account is not None and rec is not None:
        kind = R.ROLE if caller.kind == "assumed-role" else R.USER
        identity = view.identity_policies(account, kind, rec["name"])
        boundary = view.boundary(account, kind, rec["name"])
    if session is not None:
        session_policies = runtime.session_policies(session)
        minted_by_root = session.source_arn.endswith(":root")
        if caller.kind == "federated-user" and not session_policies:
            identity = ()  # a federation token without a session policy has no identity permissions
        elif caller.kind == "federated-user" and minted_by_root:
            # root's permissions (all, less SCPs in a member account) ∩ the session policies
            identity = (view.policies.get(ALLOW_ALL, PolicyType.IDENTITY, "root-permissions"),)
        if rec is None and not minted_by_root:
            # the session's role or user is gone (or was replaced): it may do nothing,
            # not even through a resource policy that names the role's ARN
            session_policies = (view.policies.get(DENY_ALL, PolicyType.SESSION, "session-principal-deleted"),)
    return identity, boundary, session_policies


_RESULT_VALUES = {result: result.value for result in DecisionResult}

#: The most key-name tuples ``_lowered_kept`` keeps, and the most names of one it keeps.
LOWERED_NAMES_KEPT = 256
LOWERED_NAMES_MAX = 64


@functools.lru_cache(maxsize=LOWERED_NAMES_KEPT)
def _lowered_kept(names: tuple[str, ...]) -> tuple[str, ...]:
    """``lowered_names(names)``, kept per distinct tuple of names: every request of a
    caller has the same global keys in the same order, so the engine's lower-cased
    ``Request.keys`` is built without lower-casing (nor hashing anew) each name of each
    request. ``authorize`` gives it tuples of at most ``LOWERED_NAMES_MAX`` names; a
    longer one (many keys the request gives) is lower-cased and not kept.
    bench.authz_instructions authorize 200 (callgrind): 928.6 k -> 923.5 k instructions
    per AuthorizeRequest."""
    return lowered_names(names)


def authorize(
    ctx: RequestContext,
    action: str,
    resource: str,
    resource_account: str | None,
    request_keys: Mapping[str, object] | None,
    resource_policy: Policy | None,
) -> Decision:
    """Decide ``action`` on ``resource``: the request's global condition keys, the
    resource's account and organization, and ``request_keys`` (the action's own keys,
    e.g. ``aws:RequestTag/…``) against the caller's policies and ``resource_policy``."""
    caller = ctx.caller
    refuse_session_kind(ctx, action, resource)  # decided once per service per request
    resource_account = resource_account or caller.account
    context = dict(ctx.base_context())
    context["aws:ResourceAccount"] = resource_account
    resource_org = ctx.runtime.org.principal_org(resource_account)
    if resource_org is not None:
        context["aws:ResourceOrgID"] = resource_org[0]
        context["aws:ResourceOrgPaths"] = list(resource_org[1])
    if request_keys:
        context.update(request_keys)
    runtime = ctx.runtime
    profile = caller_profile(runtime, caller)
    # positional: principal, action, resource, resource_account, context, lowered
    names = tuple(context)
    lowered = _lowered_kept(names) if len(names) <= LOWERED_NAMES_MAX else lowered_names(names)
    request = Request(profile.principal, action, resource, resource_account, context, lowered)
    # Exact memo (tessera.policy.memo): with the decision memo and the JSON changes,
    # bench.authz_instructions authorize 200: 1 357 k -> 1 248 k instructions per
    # AuthorizeRequest (docs/performance.md).
    policies = profile.policies(resource_policy, runtime.org.scps_for(caller.account))
    decision = runtime.decisions.evaluate(request, policies, profile.prepared_for(policies))
    ctx.decisions.append(decision)
    result = decision.result
    runtime.metrics.decision(_RESULT_VALUES[result])  # the enum's value, without its descriptor
    if result is not DecisionResult.ALLOWED:
        # STS answers a refused role assumption without saying which policy refused it
        # (observed AWS text ends at the role ARN); the encoded message still explains.
        trust = resource_policy is not None and resource_policy.type is PolicyType.TRUST
        raise access_denied(caller, action, resource, decision, explain=not trust, request=request)
    return decision


def authorize_federated(
    ctx: RequestContext,
    provider_arn: str,
    action: str,
    role_arn: str,
    role_account: str,
    request_keys: Mapping[str, object],
    trust: Policy,
) -> Decision:
    """Decide ``action`` on a role for a caller federated by the identity provider
    ``provider_arn`` (AssumeRoleWithWebIdentity): the role's trust policy alone decides,
    as for any web-identity principal, with the request's global keys, the provider
    (``aws:FederatedProvider``) and ``request_keys`` (the provider's claims, the session's
    name and tags). A refusal is AWS's bare "Not authorized to perform ACTION"."""
    context: dict[str, object] = {
        "aws:FederatedProvider": provider_arn,
        **_request_keys(ctx.info),
        "aws:ResourceAccount": role_account,
    }
    resource_org = ctx.runtime.org.principal_org(role_account)
    if resource_org is not None:
        context["aws:ResourceOrgID"] = resource_org[0]
        context["aws:ResourceOrgPaths"] = list(resource_org[1])
    context.update(request_keys)
    principal = Principal(kind="web-identity", arn=provider_arn, account=role_account)
    names = tuple(context)
    lowered = _lowered_kept(names) if len(names) <= LOWERED_NAMES_MAX else lowered_names(names)
    request = Request(principal, action, role_arn, role_account, context, lowered)
    # through the decision memo, as every other decision: the trust policy reads a few
    # of the token's claims (its audience, its subject), so a workload's calls after its
    # first are replayed, not evaluated again
    decision = ctx.runtime.decisions.evaluate(request, PolicySet(resource=trust))
    ctx.decisions.append(decision)
    ctx.runtime.metrics.decision(decision.result.value)
    if not decision.allowed:
        raise AccessDenied(f"Not authorized to perform {action}")
    return decision


ROOT_CANNOT_ASSUME = "Roles may not be assumed by root accounts."
SESSION_TOKEN_STS_OPERATIONS = frozenset({"AssumeRole", "GetCallerIdentity"})
NO_SESSION_CREDENTIALS_OPERATIONS = frozenset({"GetFederationToken", "GetSessionToken"})


def session_kind_refusal(caller: Caller, operation: str, action: str, resource: str) -> AccessDenied | None:
    """The AccessDenied that the kind of credentials alone earns for ``action`` (no policy
    can change it), or None:

    * the root user cannot assume roles;
    * federated users (GetFederationToken) may call no IAM API and no STS API but
      GetCallerIdentity;
    * GetSessionToken credentials may call IAM only if MFA was used, and among STS
      operations only AssumeRole (with its TagSession/SetSourceIdentity checks) and
      GetCallerIdentity;
    * role sessions cannot call GetFederationToken or GetSessionToken.

    The answer depends on the caller, the operation and the action's service only
    (``refuse_session_kind`` relies on it to decide once per service per request).
    """
    if caller.kind == "root" and operation == "AssumeRole":
        return AccessDenied(ROOT_CANNOT_ASSUME)
    if _refused_by_kind(caller, operation, action.partition(":")[0].lower()):
        return access_denied(caller, action, resource, None)
    return None


def _refused_by_kind(caller: Caller, operation: str, service: str) -> bool:
    session = caller.session
    if caller.kind == "federated-user":
        return service == "iam" or (service == "sts" and operation != "GetCallerIdentity")
    if session is not None and session.kind == "session-token":
        if service == "iam":
            return not session.mfa_authenticated
        return service == "sts" and operation not in SESSION_TOKEN_STS_OPERATIONS
    return caller.kind == "assumed-role" and operation in NO_SESSION_CREDENTIALS_OPERATIONS


def refuse_session_kind(ctx: RequestContext, action: str, resource: str) -> None:
    """Raise AccessDenied when the caller's kind of credentials forbids ``action``.

    The one place that decides: ``authorize`` calls it for every action, and an
    operation that must refuse a kind of caller before anything else (AssumeRole, see
    there) calls it first; either way the decision is taken once per service per
    request (``ctx.kind_cleared``), and the first call, whose resource is the one
    named in the message, is the one that refuses."""
    service = action.partition(":")[0].lower()
    if service in ctx.kind_cleared:
        return
    refusal = session_kind_refusal(ctx.caller, ctx.operation, action, resource)
    if refusal is not None:
        raise refusal
    ctx.kind_cleared.add(service)


def access_denied(
    caller: Caller,
    action: str,
    resource: str,
    decision: Decision | None,
    *,
    explain: bool = True,
    request: Request | None = None,
) -> AccessDenied:
    """AWS's AccessDenied: "User: ARN is not authorized to perform: ACTION on resource:
    ARN", followed, when ``explain``, by the decision's "because …"/"with …" clause.
    Given the engine's ``request`` too, the error carries the decision as a ``Denial``
    (for the encoded authorization message)."""
    shown = caller.arn
    if caller.kind == "assumed-role" and caller.session is not None:
        shown = assumed_role_arn(caller.account, caller.session.role_name, caller.session.session_name)
    message = f"User: {shown} is not authorized to perform: {action} on resource: {resource}"
    if decision is not None and explain:
        message += decision.message_suffix
    denial = denial_of(caller, request, decision) if decision is not None and request is not None else None
    return AccessDenied(message, denial)


_OWNER_POLICIES = (PolicyType.RESOURCE, PolicyType.TRUST)


def denial_of(caller: Caller, request: Request, decision: Decision) -> Denial:
    """The refusal ``decision`` of ``request`` as plain, immutable facts."""
    return Denial(
        action=request.action,
        resource=request.resource,
        principal=DeniedPrincipal(id=caller.user_id, name=caller.name, arn=caller.arn, account=caller.account),
        explicit_deny=decision.result is DecisionResult.EXPLICIT_DENY,
        reason=decision.reason,
        statements=tuple(
            DecidingStatement(m.policy_id, m.sid, m.statement_index, m.effect.value, m.policy_type in _OWNER_POLICIES)
            for m in decision.matched
        ),
        context=MappingProxyType(dict(request.context)),
        same_account=request.same_account,
    )


def request_of(caller: Caller, denial: Denial) -> Request:
    """The request that ``denial`` refused, to evaluate again (``authorize`` records the
    resource's account as ``aws:ResourceAccount``)."""
    return Request(
        principal=engine_principal(caller),
        action=denial.action,
        resource=denial.resource,
        resource_account=str(denial.context.get("aws:ResourceAccount", "")),
        context=dict(denial.context),
    )

"""Tessera's authorization API: AuthorizeRequest and BatchAuthorizeRequest (docs/services.md).

A service that Tessera's users run (a *resource server*) receives requests its clients
signed with Tessera credentials by any AWS SDK, and asks Tessera, signed with its own
credentials, whether to serve them. Tessera verifies the client's signature with the
same code and errors as for its own APIs (``auth.authenticate.verify`` and the
process's ``services.credentials`` resolver) and decides each action on each resource
for the client with ``services.authorization`` — the policies and condition keys
every Tessera call is decided by (SCPs, resource-based policy, identity policies,
permissions boundary, session policies, revocations).

Order of checks:

1. the resource server may authorize for the service: ``tessera:AuthorizeRequest`` on
   ``arn:aws:tessera::ACCOUNT:authorizer/NAMESPACE`` (its own account) for the
   credential-scope service and for each action's namespace — else AccessDenied, an
   error of this call;
2. what the engine would read is well formed: the client's address, each resource
   policy (MalformedPolicyDocumentException), each condition key and value
   (InvalidInputException; the resource server sets only its actions' own keys,
   ``aws:RequestTag/…`` and ``aws:TagKeys``: every other global key is Tessera's);
3. the client's signature: a failure (SignatureDoesNotMatch, ExpiredToken,
   InvalidClientTokenId, …) is not an error of this call but its answer, the error the
   resource server should give its client (``Error``), with no decision taken;
4. each action on its resource for the client: ``Allow``, or ``Deny`` with AWS's
   AccessDenied text and an encoded authorization message that the client's account
   can decode with ``sts:DecodeAuthorizationMessage``.

The resource server speaks for its resources: their owner, resource policy and tags are
what it says they are. Statements of the client's own policies are shown to it only
when the client is of its account.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from tessera.arn import PARTITION
from tessera.auth.authenticate import AuthSettings, HttpRequest, Verified, headers_from_raw, verify
from tessera.auth.caller import Caller
from tessera.errors import AccessDenied, AuthError, InvalidInputException, MalformedPolicyDocumentException
from tessera.policy import Decision, Effect, Policy, PolicyError, PolicyType
from tessera.services import authorization
from tessera.services.credentials import credential_resolver
from tessera.services.iam.simulate import context_from_entries
from tessera.services.request import OperationContext, operation
from tessera.services.request_info import RequestInfo
from tessera.services.sts.authorization_message import encode_authorization_message

AUTHORIZE_ACTION = "tessera:AuthorizeRequest"
SETTABLE_GLOBAL_KEYS = ("aws:requesttag/", "aws:tagkeys")
"""The global condition keys a resource server may give: what the client's request
asks to write. Every other ``aws:`` key is Tessera's, from the request and the caller."""


def authorizer_arn(account: str, namespace: str) -> str:
    """The resource a resource server must be allowed ``tessera:AuthorizeRequest`` on to
    decide requests for ``namespace`` (a credential-scope service or action prefix)."""
    return f"arn:{PARTITION}:tessera::{account}:authorizer/{namespace}"


@operation("tessera-authz", "AuthorizeRequest", inline=True, read_only=True)
def authorize_request(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    # the input is its own one entry: ``_decide`` and ``_EntryInput.read`` read only an
    # entry's members of it (Action, Resource, ResourceAccount, ResourcePolicy,
    # ResourceTags, ContextEntries), so they are not copied into a new dict
    outcome = _decide(ctx, params, [params])
    if isinstance(outcome, dict):
        return {"Decision": "Deny", "Error": outcome}
    principal, results = outcome
    result = results[0]
    del result["Action"], result["Resource"]
    return {"Principal": principal, **result}


@operation("tessera-authz", "BatchAuthorizeRequest", inline=True, read_only=True)
def batch_authorize_request(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    outcome = _decide(ctx, params, params["Entries"])
    if isinstance(outcome, dict):
        return {"Error": outcome, "Results": []}
    principal, results = outcome
    return {"Principal": principal, "Results": results}


def _decide(
    ctx: OperationContext, params: Mapping[str, Any], entries: Sequence[Mapping[str, Any]]
) -> dict[str, Any] | tuple[dict[str, Any], list[dict[str, Any]]]:
    """The client's error (a dict) when its signature fails, else its description and
    one result per entry."""
    service = params["Service"]
    for namespace in sorted({service, *(_namespace(e["Action"]) for e in entries)}):
        ctx.authorize(AUTHORIZE_ACTION, authorizer_arn(ctx.caller.account, namespace))
    client = params["Request"]
    source_ip = _source_ip(client.get("SourceIp"))
    inputs = [_EntryInput.read(ctx, entry) for entry in entries]
    headers = headers_from_raw([(h["Name"], h["Value"]) for h in client["Headers"]])  # a list: no generator to resume
    try:
        verified = _verify_client(ctx, client, headers, service, params.get("Region"))
    except AuthError as error:
        ctx.audit_data = {"service": service, "client": {"errorCode": error.code}}
        return _client_error(error)
    caller = verified.caller
    if ctx.runtime.usage is not None:
        ctx.runtime.usage.note(caller, service, verified.region, ctx.now)
    info = RequestInfo(
        request_id=ctx.info.request_id,
        received_at=ctx.now,
        source_ip=source_ip,
        user_agent=headers.get("user-agent", ""),
        region=verified.region,
        secure_transport=bool(client.get("SecureTransport")),
    )
    client_ctx = OperationContext(runtime=ctx.runtime, caller=caller, info=info)
    own_account = caller.account == ctx.caller.account
    results = [entry.decide(client_ctx, own_account) for entry in inputs]
    ctx.audit_data = {
        "service": service,
        "client": _audit_principal(caller),
        "decisions": [{"action": r["Action"], "resource": r["Resource"], "decision": r["Decision"]} for r in results],
    }
    return _principal(client_ctx), results


def _namespace(action: str) -> str:
    return action.partition(":")[0].lower()


def _source_ip(text: str | None) -> str:
    """The client's address as ``aws:SourceIp`` reads it: an IPv4 client of a dual-stack
    listener (``::ffff:a.b.c.d``) as its IPv4 address, as for Tessera's own requests."""
    return "" if text is None else _normal_ip(text)


@functools.lru_cache(maxsize=4096)
def _normal_ip(text: str) -> str:
    """``_source_ip`` parsed once per distinct address (a refused one is not kept): the
    parse was about 2% of an AuthorizeRequest's CPU (cProfile, bench.authz_call's request)."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidInputException(f"SourceIp {text} is not an IP address.") from None
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return str(mapped or address)


def _verify_client(
    ctx: OperationContext, client: Mapping[str, Any], headers: Mapping[str, str], service: str, region: str | None
) -> Verified:
    """The client's signature, verified as Tessera verifies its own requests; the
    credential scope must name ``service`` (and ``region``, when given)."""
    request = HttpRequest(
        method=client["Method"],
        path=client["Path"],
        raw_query=client.get("QueryString", ""),
        headers=headers,
        body_sha256=client.get("BodySha256"),
        unsigned_payload=bool(client.get("UnsignedPayload")),
        path_as_sent=bool(client.get("PathAsSent")),
    )
    settings = _settings(service, region, ctx.runtime.settings.debug_signatures)
    return verify(request, ctx.now, credential_resolver(ctx.runtime), settings)


@functools.lru_cache(maxsize=256)
def _settings(service: str, region: str | None, debug: bool) -> AuthSettings:
    """What the client's credential scope must name (a few per resource server)."""
    return AuthSettings(services=frozenset({service}), regions=frozenset({region}) if region else None, debug=debug)


class _EntryInput:
    """One action on one resource, its input checked before any decision."""

    def __init__(self, action: str, resource: str, account: str | None, policy: Policy | None, keys: dict[str, object]) -> None:
        self.action = action
        self.resource = resource
        self.account = account
        self.policy = policy
        self.keys = keys

    @classmethod
    def read(cls, ctx: OperationContext, entry: Mapping[str, Any]) -> _EntryInput:
        action = entry["Action"]
        namespace = _namespace(action)
        keys = context_from_entries(entry.get("ContextEntries") or ())
        for name in keys:
            if not name.startswith((f"{namespace}:", *SETTABLE_GLOBAL_KEYS)):
                raise InvalidInputException(
                    f"Context key {name} cannot be given: only keys of {namespace}, aws:RequestTag/* and aws:TagKeys are the request's."
                )
        for tag in entry.get("ResourceTags") or ():
            keys[f"aws:ResourceTag/{tag['Key']}"] = tag["Value"]
        policy = None
        if entry.get("ResourcePolicy"):
            try:
                policy = ctx.runtime.view.policies.get(entry["ResourcePolicy"], PolicyType.RESOURCE, "resource-policy")
            except PolicyError as error:
                raise MalformedPolicyDocumentException(error.message) from error
        return cls(action, entry["Resource"], entry.get("ResourceAccount") or ctx.caller.account, policy, keys)

    def decide(self, client_ctx: OperationContext, own_account: bool) -> dict[str, Any]:
        result: dict[str, Any] = {"Action": self.action, "Resource": self.resource}
        client_ctx.operation = self.action.partition(":")[2]
        client_ctx.kind_cleared.clear()
        before = len(client_ctx.decisions)
        try:
            decision = client_ctx.authorize(
                self.action, self.resource, resource_account=self.account, context=self.keys, resource_policy=self.policy
            )
        except AccessDenied as denied:
            result["Decision"] = "Deny"
            error = _client_error(denied)
            if denied.decision is not None:
                error["EncodedAuthorizationMessage"] = encode_authorization_message(client_ctx.runtime, denied.decision)
            result["Error"] = error
            decided = client_ctx.decisions[before:]
            if decided:
                result["MatchedStatements"] = _statements(decided[-1], own_account)
            return result
        result["Decision"] = "Allow"
        result["MatchedStatements"] = _statements(decision, own_account)
        return result


_TYPE_VALUES = {kind: kind.value for kind in PolicyType}
_EFFECT_VALUES = {effect: effect.value for effect in Effect}


def _statements(decision: Decision, own_account: bool) -> list[dict[str, Any]]:
    """The deciding statements; of the client's own policies only when it is of the
    resource server's account. Read from the decision's (policy, statement) pairs, as
    ``Decision.matched`` locates them, without building its ``MatchedStatement``s (nor
    reading an enum's ``value`` through its descriptor): 999 k -> 979 k instructions per
    AuthorizeRequest (callgrind, ``bench.authz_instructions authorize 200``)."""
    return [
        {
            "PolicyId": policy.id,
            "PolicyType": _TYPE_VALUES[policy.type],
            "Sid": statement.sid,
            "StatementIndex": statement.index,
            "Effect": _EFFECT_VALUES[statement.effect],
        }
        for policy, statement in decision.statements[0]
        if own_account or policy.type is PolicyType.RESOURCE
    ]


def _client_error(error: AuthError) -> dict[str, Any]:
    return {"Code": error.code, "JsonCode": error.json_code or error.code, "HttpStatus": error.status, "Message": error.message}


def _principal(client_ctx: OperationContext) -> dict[str, Any]:
    caller = client_ctx.caller
    session = caller.session
    principal: dict[str, Any] = {
        "Arn": caller.arn,
        "Account": caller.account,
        "UserId": caller.user_id,
        "Type": authorization.PRINCIPAL_TYPE[caller.kind],
        "PrincipalArn": authorization.principal_arn_key(caller),
        "AccessKeyId": caller.access_key_id,
        # ``principal_tags`` without its copy of the profile's tags
        "Tags": [{"Key": k, "Value": v} for k, v in authorization.caller_profile(client_ctx.runtime, caller).tags.items()],
        "MfaAuthenticated": bool(session is not None and session.mfa_authenticated),
    }
    if caller.kind == "user":
        principal["UserName"] = caller.name
    if session is not None and caller.kind in ("assumed-role", "federated-user"):
        principal["SessionName"] = session.session_name
    if session is not None and session.source_identity:
        principal["SourceIdentity"] = session.source_identity
    return principal


def _audit_principal(caller: Caller) -> dict[str, Any]:
    return {"arn": caller.arn, "accountId": caller.account, "principalId": caller.user_id, "accessKeyId": caller.access_key_id}

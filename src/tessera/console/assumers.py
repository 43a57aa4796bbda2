"""Who can assume a role: the role page's analysis, from what the API told the page.

AssumeRole allows a caller when the role's trust policy and the caller's own policies
together allow ``sts:AssumeRole`` on the role (AWS's cross-account and trust-policy
evaluation: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html).
The page asks the simulator for each user and role of the account, as the signed-in
principal (so it sees only what it is allowed to simulate):

- a user: SimulatePrincipalPolicy with the trust policy as ``ResourcePolicy``, which
  Tessera evaluates as the role's trust policy, as AssumeRole does: ``user_verdict``;
- a role: AWS accepts ``ResourcePolicy`` only with an IAM user as ``CallerArn``, so the
  role's own policies are simulated without it, and the trust policy is evaluated here
  by the same engine for a session of that role: ``role_verdict``. A trust policy naming
  the role (or the session) needs nothing more but the role's permissions boundary
  (the session, not the role, is named: nothing at all); naming the account delegates to
  the role's own policies.

Principals of the trust policy outside the account (other accounts, identity
providers, services, everyone) cannot be enumerated: ``outside_principals`` describes
them. Everything here is a plain function of values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tessera.arn import Arn
from tessera.policy import (
    Decision,
    DecisionResult,
    Policy,
    PolicyError,
    PolicySet,
    PolicyType,
    Principal,
    Request,
    evaluate,
    parse_policy,
    principal_context,
)

ACTION = "sts:AssumeRole"
ALLOWED, CONDITIONAL, DENIED, UNKNOWN = "allowed", "conditional", "denied", "unknown"
_ALLOW_ALL = parse_policy('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}', PolicyType.IDENTITY)
_ALLOW_NOTHING = parse_policy(
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"none:none","Resource":"*"}]}', PolicyType.BOUNDARY
)


@dataclass(frozen=True)
class Verdict:
    """Whether one principal can assume the role: ``allowed``, ``conditional`` (only
    with the condition keys in ``keys`` set right: MFA, external id…), ``denied``, or
    ``unknown`` (the simulation was refused; ``reason`` is AWS's message)."""

    outcome: str
    reason: str
    keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outside:
    """A principal of the trust policy the account's lists do not hold."""

    kind: str  # "account", "principal", "federated", "service", "everyone"
    value: str
    description: str


def user_verdict(result: Mapping[str, Any]) -> Verdict:
    """A user's SimulatePrincipalPolicy EvaluationResult (trust policy as ResourcePolicy)."""
    decision = str(result.get("EvalDecision"))
    missing = tuple(str(k) for k in result.get("MissingContextValues") or ())
    if decision == DecisionResult.ALLOWED.value:
        return Verdict(ALLOWED, "The trust policy and the user's policies allow it.")
    if decision == DecisionResult.EXPLICIT_DENY.value:
        return Verdict(DENIED, "Explicitly denied.")
    if missing:
        return Verdict(CONDITIONAL, "Only when the request satisfies the conditions.", missing)
    return Verdict(DENIED, "Not allowed by both the trust policy and the user's policies.")


def role_verdict(trust: Policy, role_arn: str, caller: Mapping[str, Any], identity: Mapping[str, Any]) -> Verdict:
    """A session of role ``caller`` (GetRole/ListRoles' ``Arn`` and ``RoleId``) assuming
    ``role_arn``, given ``identity``: its own SimulatePrincipalPolicy EvaluationResult
    for sts:AssumeRole on the role, without ResourcePolicy."""
    if identity.get("EvalDecision") == DecisionResult.EXPLICIT_DENY.value:
        return Verdict(DENIED, "Explicitly denied by the role's own policies.")
    organizations = identity.get("OrganizationsDecisionDetail") or {}
    if organizations and not organizations.get("AllowedByOrganizations", True):
        return Verdict(DENIED, "Not allowed by the organization's service control policies.")
    request = _session_request(trust, role_arn, caller)
    alone = evaluate(request, PolicySet(resource=trust))
    if alone.result is DecisionResult.EXPLICIT_DENY:
        return Verdict(DENIED, "Explicitly denied by the trust policy.")
    if alone.allowed:
        if evaluate(request, PolicySet(resource=trust, boundary=_ALLOW_NOTHING)).allowed:
            return Verdict(ALLOWED, "The trust policy names the session.")
        bounded = (identity.get("PermissionsBoundaryDecisionDetail") or {}).get("AllowedByPermissionsBoundary", True)
        if bounded:
            return Verdict(ALLOWED, "The trust policy names the role.")
        return Verdict(DENIED, "The trust policy names the role, but its permissions boundary does not allow it.")
    delegated = evaluate(request, PolicySet(resource=trust, identity=(_ALLOW_ALL,)))
    if not delegated.allowed:
        return _unless_missing(delegated, "The trust policy does not name the role or its account.")
    if identity.get("EvalDecision") == DecisionResult.ALLOWED.value:
        return Verdict(ALLOWED, "The trust policy names the account, and the role's policies allow it.")
    missing = tuple(str(k) for k in identity.get("MissingContextValues") or ())
    if missing:
        return Verdict(CONDITIONAL, "Only when the request satisfies the conditions.", missing)
    return Verdict(DENIED, "The trust policy names the account, but the role's policies do not allow it.")


def _session_request(trust: Policy, role_arn: str, caller: Mapping[str, Any]) -> Request:
    caller_arn = Arn.parse(str(caller["Arn"]))
    account = caller_arn.account if caller_arn is not None else ""
    name = str(caller["Arn"]).rsplit("/", 1)[-1]
    session = f"arn:aws:sts::{account}:assumed-role/{name}/session"
    principal = Principal("assumed-role", session, account, role_arn=str(caller["Arn"]), user_id=f"{caller['RoleId']}:session")
    target = Arn.parse(role_arn)
    return Request(principal, ACTION, role_arn, target.account if target is not None else account, principal_context(principal))


def _unless_missing(decision: Decision, reason: str) -> Verdict:
    missing = decision.missing_context_keys
    if missing:
        return Verdict(CONDITIONAL, "Only when the request satisfies the trust policy's conditions.", tuple(missing))
    return Verdict(DENIED, reason)


_EVERYONE = Outside("everyone", "*", "Any principal of any account whose own policies allow it.")


def outside_principals(document: str, account: str) -> list[Outside]:
    """The principals an Allow statement of the trust policy names outside ``account``."""
    try:
        parsed = json.loads(document)
    except ValueError:
        return []
    statements = parsed.get("Statement") if isinstance(parsed, dict) else None
    found: list[Outside] = []
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        for outside in _principals(statement.get("Principal"), account):
            if outside not in found:
                found.append(outside)
    return found


def _principals(element: object, account: str) -> list[Outside]:
    if element == "*":
        return [_EVERYONE]
    if not isinstance(element, dict):
        return []
    out: list[Outside] = []
    for kind, values in element.items():
        for value in values if isinstance(values, list) else [values]:
            described = _describe(str(kind), str(value), account)
            if described is not None:
                out.append(described)
    return out


def _describe(kind: str, value: str, account: str) -> Outside | None:
    if kind == "Service":
        return Outside("service", value, f"The AWS service {value}, on behalf of its callers.")
    if kind == "Federated":
        return Outside(
            "federated", value, f"Users signed in through the identity provider {value} (AssumeRoleWithWebIdentity, AssumeRoleWithSAML)."
        )
    if kind != "AWS":
        return None
    if value == "*":
        return _EVERYONE
    if value.isdigit():
        value = f"arn:aws:iam::{value}:root"
    arn = Arn.parse(value)
    if arn is None or arn.account == account:
        return None
    if arn.resource == "root":
        return Outside("account", arn.account, f"Any principal of account {arn.account} that its own policies allow.")
    return Outside("principal", value, f"{value} of account {arn.account}, if its own policies allow it.")


def trust_policy(document: str) -> Policy | None:
    """The role's trust policy compiled by the engine, or None if it cannot be read."""
    try:
        return parse_policy(document, PolicyType.TRUST)
    except PolicyError:
        return None

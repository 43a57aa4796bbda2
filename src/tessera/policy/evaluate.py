"""AWS's policy evaluation logic: every applicable policy in, one explained decision out.

The steps follow the IAM User Guide, "Policy evaluation logic"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html),
and its cross-account page (…/reference_policies_evaluation-logic-cross-account.html),
collecting first and deciding after (as Cedar does):

1. match every policy against the request (only statements indexed for the action);
2. an explicit Deny anywhere → ``explicitDeny``;
3. SCPs, when given: every level needs an Allow;
4. the caller's kind: the root user has full access to its own account; service,
   web-identity and anonymous callers depend on the resource-based policy alone;
5. the resource-based policy (a role trust policy is *mandatory* for its actions): in the
   same account, naming the caller directly is enough; naming its role counts as an
   identity grant; naming the account delegates to the account's own policies;
6. identity-based policies, then the permissions boundary, then session policies;
7. otherwise ``allowed``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tessera.policy.context import Request
from tessera.policy.model import Effect, Grant, Policy, PolicyType, Statement

_DENY_PHRASE = {
    PolicyType.SCP: "a service control policy",
    PolicyType.RESOURCE: "a resource-based policy",
    PolicyType.TRUST: "a resource-based policy",
    PolicyType.IDENTITY: "an identity-based policy",
    PolicyType.BOUNDARY: "a permissions boundary",
    PolicyType.SESSION: "a session policy",
}
_ROOT_CANNOT_ASSUME = "roles may not be assumed by root accounts"
_NOT_AUTHORIZED = "{kind}: {arn} is not authorized to perform: {action} on resource: {resource}"


class DecisionResult(enum.Enum):
    ALLOWED = "allowed"
    EXPLICIT_DENY = "explicitDeny"
    IMPLICIT_DENY = "implicitDeny"


@dataclass(frozen=True, slots=True)
class PolicySet:
    """Every policy that applies to one request, by type. ``scps`` is None when no SCP
    applies (no organization, the management account, a service-linked role — the caller
    decides); otherwise one sequence of policies per level, root → OUs → account."""

    identity: Sequence[Policy] = ()
    resource: Policy | None = None
    boundary: Policy | None = None
    session: Sequence[Policy] = ()
    scps: Sequence[Sequence[Policy]] | None = None


@dataclass(frozen=True, slots=True)
class MatchedStatement:
    """A deciding statement, located as IAM's simulator locates it: 1-based line and
    column of the statement's opening brace (start) and closing brace (end)."""

    policy_id: str
    policy_type: PolicyType
    statement_index: int
    sid: str
    effect: Effect
    start_line: int
    start_column: int
    end_line: int
    end_column: int


def _located(policy: Policy, statement: Statement) -> MatchedStatement:
    start, end = statement.span.start, statement.span.end
    return MatchedStatement(
        policy.id,
        policy.type,
        statement.index,
        statement.sid,
        statement.effect,
        start.line,
        start.column,
        end.line,
        end.column,
    )


class Decision:
    """The answer and why. ``reason`` is the text AWS puts after "because"/"with"
    ("no identity-based policy allows the iam:CreateUser action", "an explicit deny in an
    identity-based policy"); "" when allowed. ``matched`` lists the deciding statements:
    the matching Deny statements for an explicit deny, the matching Allow statements for
    an allow, none for an implicit deny."""

    __slots__ = ("_considered", "_considered_scps", "_deciding", "_keys", "reason", "result")

    def __init__(
        self,
        result: DecisionResult,
        reason: str,
        deciding: tuple[tuple[Policy, Statement], ...],
        considered: list[Statement],
        keys: object,
        considered_scps: Sequence[Statement] = (),
    ) -> None:
        self.result = result
        self.reason = reason
        self._deciding = deciding
        self._considered = considered
        self._considered_scps = considered_scps
        self._keys = keys

    @property
    def allowed(self) -> bool:
        return self.result is DecisionResult.ALLOWED

    @property
    def statements(self) -> tuple[tuple[tuple[Policy, Statement], ...], Sequence[Statement], Sequence[Statement]]:
        """What the decision is built of: the deciding (policy, statement) pairs, and the
        statements that applied to the action, of every policy but the SCPs and of the
        SCPs (``DecisionMemo`` stores them by position)."""
        return self._deciding, self._considered, self._considered_scps

    @property
    def matched(self) -> tuple[MatchedStatement, ...]:
        return tuple(_located(p, s) for p, s in self._deciding)

    @property
    def missing_context_keys(self) -> tuple[str, ...]:
        """Condition keys and policy variables used by the statements that apply to the
        requested action but absent from the request context, as written."""
        return self._missing((*self._considered_scps, *self._considered))

    @property
    def missing_context_keys_without_scps(self) -> tuple[str, ...]:
        """``missing_context_keys`` of every policy but the SCPs (the IAM simulator does
        not reveal an SCP's conditions to the account's principals)."""
        return self._missing(self._considered)

    @property
    def matched_without_scps(self) -> tuple[MatchedStatement, ...]:
        """``matched`` less the statements of SCPs."""
        return tuple(_located(p, s) for p, s in self._deciding if p.type is not PolicyType.SCP)

    def _missing(self, considered: Sequence[Statement]) -> tuple[str, ...]:
        missing: dict[str, str] = {}
        for statement in considered:
            for key in statement.referenced_keys:
                lower = key.lower()
                if lower not in self._keys and lower not in missing:  # type: ignore[operator]
                    missing[lower] = key
        return tuple(missing.values())

    @property
    def message_suffix(self) -> str:
        """`` because no … allows …`` / `` with an explicit deny in …`` / ``.``"""
        if self.result is DecisionResult.EXPLICIT_DENY:
            return f" with {self.reason}"
        if self.reason:
            return f" because {self.reason}"
        return ""

    def access_denied_message(self, request: Request, principal_arn: str | None = None) -> str:
        """AWS's AccessDenied text for this decision."""
        arn = principal_arn or request.principal.arn
        head = _NOT_AUTHORIZED.format(kind="User", arn=arn, action=request.action, resource=request.resource)
        return head + self.message_suffix

    def __repr__(self) -> str:
        return f"Decision({self.result.value!r}, reason={self.reason!r})"


@dataclass(slots=True)
class _Match:
    """What one policy says about the request."""

    policy: Policy
    denies: list[Statement]
    allows: list[tuple[Statement, Grant]]


class _Evaluation:
    """One request's matching pass: remembers the statements that applied."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.considered: list[Statement] = []
        self.considered_scps: list[Statement] = []

    def match(self, policy: Policy) -> _Match | None:
        """The policy's matching statements; None when none matches (the common case,
        so nothing is allocated for policies that do not mention the action)."""
        candidates = policy.index.candidates(self.request.action_lower)
        if not candidates:
            return None
        request = self.request
        denies: list[Statement] = []
        allows: list[tuple[Statement, Grant]] = []
        for statement in candidates:
            if statement.referenced_keys:
                (self.considered_scps if policy.type is PolicyType.SCP else self.considered).append(statement)
            if not statement.resource_matches(request):
                continue
            grant = statement.principal_grant(request.principal)
            if grant is None:
                continue
            if not statement.conditions_hold(request.keys):
                continue
            if statement.effect is Effect.DENY:
                denies.append(statement)
            else:
                allows.append((statement, grant))
        if not denies and not allows:
            return None
        return _Match(policy, denies, allows)

    def decide(self, result: DecisionResult, reason: str, matches: Sequence[_Match] = ()) -> Decision:
        if result is DecisionResult.EXPLICIT_DENY:
            deciding = tuple((m.policy, s) for m in matches for s in m.denies)
        else:
            deciding = tuple((m.policy, s) for m in matches for s, _ in m.allows)
        return Decision(result, reason, deciding, self.considered, self.request.keys, self.considered_scps)

    def implicit(self, reason: str) -> Decision:
        return self.decide(DecisionResult.IMPLICIT_DENY, reason)

    def no_allow(self, policy_kind: str) -> Decision:
        return self.implicit(f"no {policy_kind} allows the {self.request.action} action")


class _Matches:
    """The policies that matched, by type (policies with no matching statement are left
    out), whether a boundary / session policies exist at all, and every match in the order
    AWS names the policy type of an explicit deny: SCPs, resource-based, identity,
    boundary, session."""

    __slots__ = ("boundary", "has_boundary", "has_session", "identity", "ordered", "resource", "resource_policy", "scps", "session")

    def __init__(self, run: _Evaluation, policies: PolicySet) -> None:
        match = run.match
        self.scps = None if policies.scps is None else [_present(match, level) for level in policies.scps]
        self.resource_policy = policies.resource
        self.resource = match(policies.resource) if policies.resource is not None else None
        self.identity = _present(match, policies.identity)
        self.has_boundary = policies.boundary is not None
        self.boundary = match(policies.boundary) if policies.boundary is not None else None
        self.has_session = bool(policies.session)
        self.session = _present(match, policies.session)
        ordered = [m for level in self.scps or () for m in level]
        if self.resource is not None:
            ordered.append(self.resource)
        ordered.extend(self.identity)
        if self.boundary is not None:
            ordered.append(self.boundary)
        ordered.extend(self.session)
        self.ordered = ordered


def _present(match: Callable[[Policy], _Match | None], policies: Sequence[Policy]) -> list[_Match]:
    found = []
    for policy in policies:
        result = match(policy)
        if result is not None:
            found.append(result)
    return found


def evaluate(request: Request, policies: PolicySet) -> Decision:
    """Decide ``request`` against ``policies``. Never raises for parsed policies."""
    run = _Evaluation(request)
    matches = _Matches(run, policies)
    return _explicit_deny(run, matches) or _service_control(run, matches) or _by_principal_kind(run, matches)


def _explicit_deny(run: _Evaluation, matches: _Matches) -> Decision | None:
    ordered = matches.ordered
    first = next((m for m in ordered if m.denies), None)
    if first is None:
        return None
    reason = f"an explicit deny in {_DENY_PHRASE[first.policy.type]}"
    return run.decide(DecisionResult.EXPLICIT_DENY, reason, ordered)


def _service_control(run: _Evaluation, matches: _Matches) -> Decision | None:
    """Each SCP level (root, OUs, account) must allow; an empty level allows nothing."""
    for level in matches.scps or ():
        if not any(m.allows for m in level):
            return run.no_allow("service control policy")
    return None


def _by_principal_kind(run: _Evaluation, matches: _Matches) -> Decision:
    kind = run.request.principal.kind
    if kind == "root":
        return _root(run, matches)
    if kind in ("service", "web-identity", "anonymous"):
        return _resource_only(run, matches)
    return _principal(run, matches)


def _root(run: _Evaluation, matches: _Matches) -> Decision:
    """The root user: full access in its own account, never assumes roles, and is just
    "a principal of its account" elsewhere."""
    request = run.request
    if request.action_lower == "sts:assumerole":
        return run.implicit(_ROOT_CANNOT_ASSUME)
    if request.same_account:
        return _allowed(run, matches)
    if _resource_grant(matches) is None:
        return run.no_allow("resource-based policy")
    return _allowed(run, matches)


def _resource_only(run: _Evaluation, matches: _Matches) -> Decision:
    if _resource_grant(matches) is None:
        return run.no_allow("resource-based policy")
    return _allowed(run, matches)


def _principal(run: _Evaluation, matches: _Matches) -> Decision:
    """IAM users and sessions: identity, boundary, session and resource policies combined."""
    same_account = run.request.same_account
    grant = _resource_grant(matches)
    trust = matches.resource_policy is not None and matches.resource_policy.type is PolicyType.TRUST
    if grant is None and (trust or not same_account):
        return run.no_allow("resource-based policy")
    if same_account and grant is Grant.DIRECT:
        return _allowed(run, matches)
    identity_ok = (same_account and grant is Grant.ROLE) or any(m.allows for m in matches.identity)
    if not identity_ok:
        return run.no_allow("identity-based policy")
    if matches.has_boundary and (matches.boundary is None or not matches.boundary.allows):
        return run.no_allow("permissions boundary")
    if not _session_allows(run, matches):
        return run.no_allow("session policy")
    return _allowed(run, matches)


def _session_allows(run: _Evaluation, matches: _Matches) -> bool:
    """Session policies cap the session; a GetFederationToken session without one has
    no identity-derived permissions at all."""
    if not matches.has_session:
        return run.request.principal.kind != "federated-user"
    return any(m.allows for m in matches.session)


def _resource_grant(matches: _Matches) -> Grant | None:
    if matches.resource is None or not matches.resource.allows:
        return None
    return max(grant for _, grant in matches.resource.allows)


def _allowed(run: _Evaluation, matches: _Matches) -> Decision:
    return run.decide(DecisionResult.ALLOWED, "", matches.ordered)

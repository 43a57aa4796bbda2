"""The compiled policy: immutable statements plus an index from action to candidates.

A ``Policy`` keeps its source text (``Get*Policy`` round-trips it) and its statements,
each holding both the elements as written (for the canonical serialiser) and their
compiled matchers. ``Policy.candidates(action)`` returns only the statements whose
Action/NotAction can apply to that action, so a 500-statement policy costs a dictionary
look-up plus the few statements that mention the action.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from tessera.policy.conditions import Condition
from tessera.policy.context import Principal, Request
from tessera.policy.pattern import ArnPattern, Pattern
from tessera.policy.source import Span

#: A statement's elements, in the order AWS documents them and serialises them
#: (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements.html).
STATEMENT_FIELDS = (
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
)


class PolicyType(enum.Enum):
    IDENTITY = "identity"
    RESOURCE = "resource"
    TRUST = "trust"
    BOUNDARY = "boundary"
    SESSION = "session"
    SCP = "scp"


class Effect(enum.Enum):
    ALLOW = "Allow"
    DENY = "Deny"


class Grant(enum.IntEnum):
    """How a resource-based policy names the caller, weakest first (AWS's
    cross-account evaluation logic): through its ACCOUNT (delegates to identity policies), through the ROLE
    (or federating user) its session derives from (counts like an identity grant), or
    DIRECTLY (user ARN, session ARN, ``*``: enough on its own in the same account)."""

    ACCOUNT = 1
    ROLE = 2
    DIRECT = 3


@dataclass(frozen=True, slots=True)
class PrincipalElement:
    """A compiled Principal/NotPrincipal value, sorted by what each entry names."""

    everyone: bool = False
    accounts: frozenset[str] = frozenset()
    users: frozenset[str] = frozenset()  # IAM user ARNs
    roles: frozenset[str] = frozenset()  # IAM role ARNs
    sessions: frozenset[str] = frozenset()  # assumed-role and federated-user ARNs
    unique_ids: frozenset[str] = frozenset()  # AIDA…/AROA… ids IAM stores for users/roles
    services: frozenset[str] = frozenset()
    federated: frozenset[str] = frozenset()

    def grant(self, principal: Principal) -> Grant | None:
        """The strongest way this element names ``principal``; None if it does not."""
        kind = principal.kind
        if kind == "service":
            return Grant.DIRECT if self.everyone or principal.arn in self.services else None
        if kind == "web-identity":
            return Grant.DIRECT if principal.arn in self.federated else None
        if self.everyone:
            return Grant.DIRECT
        if kind == "anonymous":
            return None
        if principal.arn in self.users or principal.arn in self.sessions:
            return Grant.DIRECT
        if kind == "user" and principal.user_id and principal.user_id in self.unique_ids:
            return Grant.DIRECT
        if principal.role_arn and (principal.role_arn in self.roles or principal.role_arn in self.users):
            return Grant.ROLE
        if kind == "assumed-role" and principal.unique_id and principal.unique_id in self.unique_ids:
            return Grant.ROLE
        if principal.account and principal.account in self.accounts:
            return Grant.ACCOUNT
        return None


@dataclass(frozen=True, slots=True, eq=False)
class Statement:
    """One compiled statement. ``element`` is the statement as written (frozen JSON)."""

    index: int
    sid: str
    effect: Effect
    element: Mapping[str, object]
    span: Span
    actions: tuple[Pattern, ...]
    not_action: bool
    resources: tuple[ArnPattern, ...] | None  # None: no Resource element (trust policies)
    not_resource: bool
    principal: PrincipalElement | None
    not_principal: bool
    conditions: tuple[Condition, ...]
    referenced_keys: tuple[str, ...]  # condition keys and policy variables, as written
    resource_match_all: bool = field(default=False)

    def action_matches(self, action_lower: str) -> bool:
        hit = any(p.matches(action_lower) for p in self.actions)
        return hit != self.not_action

    def resource_matches(self, request: Request) -> bool:
        if self.resources is None or self.resource_match_all:
            return True
        resource, keys = request.resource, request.keys
        hit = any(p.matches(resource, keys) for p in self.resources)
        return hit != self.not_resource

    def principal_grant(self, principal: Principal) -> Grant | None:
        """How the statement names the caller; DIRECT when it has no Principal element."""
        if self.principal is None:
            return Grant.DIRECT
        grant = self.principal.grant(principal)
        if self.not_principal:
            return Grant.DIRECT if grant is None else None
        return grant

    def conditions_hold(self, keys: Mapping[str, object]) -> bool:
        return all(condition.holds(keys) for condition in self.conditions)


_CACHE_LIMIT = 2048


class ActionIndex:
    """Action (lower-case) → the statements whose Action/NotAction can match it.

    Literal actions go in a dictionary; wildcard patterns are grouped by their literal
    service prefix; NotAction statements are candidates unless an entry excludes the
    action. Answers are memoised per action (policies are immutable, and the set of
    action names a server sees is small; the memo is bounded anyway)."""

    __slots__ = ("_by_service", "_exact", "_memo", "_wild")

    def __init__(self, statements: tuple[Statement, ...]) -> None:
        self._exact: dict[str, list[Statement]] = {}
        self._by_service: dict[str, list[Statement]] = {}
        self._wild: list[Statement] = []
        self._memo: dict[str, tuple[Statement, ...]] = {}
        for statement in statements:
            self._add(statement)

    def _add(self, statement: Statement) -> None:
        if statement.not_action:
            self._wild.append(statement)
            return
        for pattern in statement.actions:
            if pattern.is_literal:
                self._exact.setdefault(pattern.literal, []).append(statement)
                continue
            service, colon, _ = pattern.source.lower().partition(":")
            if colon and "*" not in service and "?" not in service and "$" not in service:
                self._by_service.setdefault(service, []).append(statement)
            else:
                self._wild.append(statement)

    def candidates(self, action_lower: str) -> tuple[Statement, ...]:
        found = self._memo.get(action_lower)
        if found is None:
            found = self._compute(action_lower)
            if len(self._memo) >= _CACHE_LIMIT:
                self._memo.clear()
            self._memo[action_lower] = found
        return found

    def _compute(self, action_lower: str) -> tuple[Statement, ...]:
        service = action_lower.partition(":")[0]
        pool = {id(s): s for s in self._exact.get(action_lower, ())}
        for statement in (*self._by_service.get(service, ()), *self._wild):
            if id(statement) not in pool and statement.action_matches(action_lower):
                pool[id(statement)] = statement
        return tuple(sorted(pool.values(), key=lambda s: s.index))


@dataclass(frozen=True, slots=True, eq=False, weakref_slot=True)
class Policy:
    """A parsed, validated, compiled policy document. Build it with ``parse_policy``.

    ``read_keys``: every condition key and policy variable its statements name,
    lower-cased (what ``evaluate`` may read of ``Request.keys`` for this policy)."""

    text: str
    id: str
    type: PolicyType
    version: str
    document_id: str | None  # the optional top-level "Id" element
    statements: tuple[Statement, ...]
    statement_is_list: bool
    index: ActionIndex = field(repr=False)
    read_keys: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        keys = {key.lower(): None for statement in self.statements for key in statement.referenced_keys}
        object.__setattr__(self, "read_keys", tuple(keys))

    def candidates(self, action_lower: str) -> tuple[Statement, ...]:
        return self.index.candidates(action_lower)

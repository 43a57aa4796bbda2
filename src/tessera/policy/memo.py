"""An exact memo of ``evaluate``: the same policies asked the same question decide alike.

``evaluate(request, policies)`` reads nothing but the policies (immutable once
compiled), the request's principal, action, resource and resource account, and the
values in ``request.keys`` of the condition keys and policy variables that the policies'
statements name (``Policy.read_keys``). ``DecisionMemo`` keys each decision on exactly
those, so a hit is the decision that evaluating again would return: no generation or
expiry is needed for correctness. A change of IAM state reaches the memo as what it
changes: a new or edited policy is a new ``Policy`` object (a different key), a tag, a
session's MFA age or the time is a different value of a key some policy reads, and a
revoked session is a new policy in its set. A key no policy reads does not split the
memo, so the question a resource server asks about itself with a fresh timestamp,
address and user agent each time is decided once.

What the memo holds: policies weakly (identified by object, so a policy dropped by
the compile cache is not kept alive, and a key whose policy is gone matches nothing),
and each decision as positions of its statements in the policy set, not the
statements themselves; the entries live in a bounded store the caller provides (the
engine keeps no state of its own). A request whose keys hold a value the memo cannot
compare exactly (not hashable, or long text) is evaluated and not stored.
"""

from __future__ import annotations

import ipaddress
import weakref
from collections.abc import Hashable, Sequence
from typing import Protocol

from tessera.policy.context import Request
from tessera.policy.evaluate import Decision, DecisionResult, PolicySet, evaluate
from tessera.policy.model import Policy, Statement

#: The most characters of request values one entry may hold (action, resource, and the
#: read keys' text); a request over it is evaluated and not stored, so that a bounded
#: number of entries is also a bounded amount of memory.
MAX_KEY_TEXT = 4096

_MISSING = object()
Position = tuple[int, int]  # (policy's position in the set, statement's index in the policy)
Recipe = tuple[tuple["weakref.ref[Policy]", ...], DecisionResult, str, tuple[Position, ...], tuple[Position, ...], tuple[Position, ...]]
# a recipe found in one prepared set: the recipe itself (kept, so that its id is not
# reused while this entry lives), its deciding pairs, considered statements and SCPs'
Replay = tuple[Recipe, tuple[tuple[Policy, Statement], ...], tuple[Statement, ...], tuple[Statement, ...]]

#: The most recipes one prepared set keeps found (``PreparedSet.replays``); a set that
#: meets more starts afresh. An entry is a few hundred bytes of tuples (the statements
#: are its set's own), so a kept caller profile grows by a few KB at most.
MAX_REPLAYS = 16


class MemoStore(Protocol):
    """Where ``DecisionMemo`` keeps its entries: a bounded map (``tessera.cache.LRU``)."""

    def get(self, key: Hashable, /) -> Recipe | None: ...

    def put(self, key: Hashable, value: Recipe, /) -> None: ...


class PreparedSet:
    """What the memo reads of a policy set that is the same for every request: its
    policies in a fixed order, their identities, the set's shape and the names of the
    keys its policies read. A caller that asks many questions of one set (one caller's
    policies) prepares it once and gives it to ``DecisionMemo.evaluate``."""

    __slots__ = ("flat", "ids", "policies", "read_keys", "replays", "shape")

    def __init__(self, policies: PolicySet) -> None:
        self.policies = policies
        # a recipe (by identity) already checked against ``flat`` -> its statements
        # found in ``flat``: see ``DecisionMemo.evaluate``
        self.replays: dict[int, Replay] = {}
        self.flat = flat = _flatten(policies)
        self.ids = tuple(map(id, flat))
        self.read_keys = tuple(name for policy in flat for name in policy.read_keys)
        scps = None if policies.scps is None else tuple(len(level) for level in policies.scps)
        self.shape = (len(policies.identity), policies.resource is not None, policies.boundary is not None, len(policies.session), scps)


class DecisionMemo:
    """``evaluate``, remembered in ``store``."""

    __slots__ = ("_store",)

    def __init__(self, store: MemoStore) -> None:
        self._store = store

    def evaluate(self, request: Request, policies: PolicySet, prepared: PreparedSet | None = None) -> Decision:
        """``evaluate(request, policies)``; ``prepared``, when given, must be
        ``PreparedSet(policies)`` (one prepared for another set is not used)."""
        if prepared is None or prepared.policies is not policies:
            prepared = PreparedSet(policies)
        flat = prepared.flat
        key = _key(request, prepared)
        if key is None:
            return evaluate(request, policies)
        try:
            recipe = self._store.get(key)
        except TypeError:  # a value that is not hashable
            return evaluate(request, policies)
        if recipe is not None:
            # A recipe found before in this prepared set: its policies were ``flat``
            # then, and ``flat`` holds them, so they still are; its statements were found
            # once and are given again (a new ``considered`` list each time, as
            # ``evaluate`` gives). bench.authz_instructions authorize 200 (callgrind):
            # 923.5 k -> 900.0 k instructions per AuthorizeRequest.
            replay = prepared.replays.get(id(recipe))
            if replay is None or replay[0] is not recipe:
                replay = _replay_of(recipe, flat) if _same(recipe[0], flat) else None
                if replay is not None:
                    replays = prepared.replays
                    if len(replays) >= MAX_REPLAYS:
                        replays.clear()
                    replays[id(recipe)] = replay
            if replay is not None:
                _, deciding, considered, considered_scps = replay
                return Decision(recipe[1], recipe[2], deciding, list(considered), request.keys, considered_scps)
        decision = evaluate(request, policies)
        self._store.put(key, _recipe(decision, flat))
        return decision


def _same(refs: tuple[weakref.ref[Policy], ...], flat: tuple[Policy, ...]) -> bool:
    """Whether the policies a recipe was made of are ``flat`` (same objects, same order)."""
    if len(refs) != len(flat):
        return False
    for ref, policy in zip(refs, flat):  # noqa: B905, SIM110 - lengths checked above; a loop makes no generator
        if ref() is not policy:
            return False
    return True


def _flatten(policies: PolicySet) -> tuple[Policy, ...]:
    """Every policy of the set, in a fixed order (the set's shape is in the key)."""
    flat = [*policies.identity]
    if policies.resource is not None:
        flat.append(policies.resource)
    if policies.boundary is not None:
        flat.append(policies.boundary)
    flat.extend(policies.session)
    for level in policies.scps or ():
        flat.extend(level)
    return tuple(flat)


def _key(request: Request, prepared: PreparedSet) -> Hashable | None:
    """Everything ``evaluate`` reads, as a hashable value; None when not comparable exactly."""
    keys = request.keys
    size = len(request.action) + len(request.resource)
    values: list[object] = []
    for name in prepared.read_keys:
        value = keys.get(name, _MISSING)
        if value.__class__ is str:  # the common case, as ``_exact`` answers it, without the call
            size += len(value)
        else:
            value = _exact(value)
            if isinstance(value, str):
                size += len(value)
            elif value is None:
                return None
        values.append(value)
    if size > MAX_KEY_TEXT:
        return None
    principal = request.principal
    return (
        prepared.shape,
        prepared.ids,
        # the principal by its fields (text, hashed once each), as its dataclass compares
        # it: its generated ``__hash__`` is Python code, run on every look-up of the key
        (principal.__class__, principal.kind, principal.arn, principal.account, principal.role_arn, principal.user_id),
        request.action,
        request.resource,
        request.resource_account,
        tuple(values),
    )


def _exact(value: object) -> object:
    """``value`` in a form equal only to values the engine treats alike (``True``,
    ``1`` and ``1.0`` are equal in Python, not to a condition operator); None for a
    value that cannot be compared this way."""
    if value.__class__ is str or value is _MISSING:
        return value
    cls = value.__class__
    # An address (``aws:SourceIp``) by its number: equal exactly when the addresses are
    # (an IPv6 one with its scope too), and hashed in C, where ``IPv4Address.__hash__``
    # is Python code that formats the number, run on every look-up of the key. With the
    # principal's fields below: bench.authz_instructions authorize 200 (callgrind,
    # --toggle-collect=functools_reduce) 979 k -> 974 k instructions per request. Tested
    # first: an address is the one value not text that every request of a policy reading
    # ``aws:SourceIp`` has.
    if cls is ipaddress.IPv4Address:
        return (cls, int(value))  # type: ignore[call-overload]
    if cls is ipaddress.IPv6Address:
        return (cls, int(value), value.scope_id)  # type: ignore[call-overload, attr-defined]
    if isinstance(value, list | tuple | set | frozenset):
        items = [_exact(item) for item in value]
        if any(item is None for item in items):
            return None
        text = sum(len(item) for item in items if isinstance(item, str))
        return None if text > MAX_KEY_TEXT else (value.__class__, tuple(items))
    if value is None:
        return (None,)
    return (cls, value)


def _recipe(decision: Decision, flat: tuple[Policy, ...]) -> Recipe:
    deciding, considered, considered_scps = decision.statements
    positions = {id(policy): index for index, policy in enumerate(flat)}
    return (
        tuple(weakref.ref(policy) for policy in flat),
        decision.result,
        decision.reason,
        tuple((positions[id(policy)], statement.index) for policy, statement in deciding),
        _positions(considered, flat),
        _positions(considered_scps, flat),
    )


def _positions(statements: Sequence[Statement], flat: tuple[Policy, ...]) -> tuple[Position, ...]:
    found = []
    for statement in statements:
        index = statement.index
        owner = next(n for n, policy in enumerate(flat) if index < len(policy.statements) and policy.statements[index] is statement)
        found.append((owner, index))
    return tuple(found)


def _replay_of(recipe: Recipe, flat: tuple[Policy, ...]) -> Replay:
    """The statements ``recipe`` names, found in ``flat`` (the policies it was made of)."""
    _, _, _, deciding, considered, considered_scps = recipe
    return (
        recipe,
        tuple((flat[p], flat[p].statements[s]) for p, s in deciding),
        tuple(flat[p].statements[s] for p, s in considered),
        tuple(flat[p].statements[s] for p, s in considered_scps),
    )

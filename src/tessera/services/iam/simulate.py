"""The policy simulator (SimulatePrincipalPolicy, SimulateCustomPolicy) and the context
key lists (GetContextKeysForPrincipalPolicy, GetContextKeysForCustomPolicy).

Both simulators run the real engine (``tessera.policy.evaluate``) on the policies AWS
would use and report the engine's own explanation: the deciding statements with their
source policy and position, and the condition keys the applicable statements needed but
the request did not supply. The request context is the keys AWS derives from the
simulated principal (``aws:username``, ``aws:userid``, ``aws:PrincipalArn``,
``aws:PrincipalTag/…``; see ``principal_keys``) overridden by ``ContextEntries``, each
read as its ``ContextKeyType``.

Each action gets one ``EvaluationResult`` (as AWS now answers: see ``_action_result``);
with ``ResourceArns`` its decision aggregates the per-resource decisions (any explicit
deny wins, else all must allow) and ``ResourceSpecificResults`` gives each resource's
own. Cross-account rules apply only when a ``ResourcePolicy`` takes part
(``resource_account``).

A role's resource-based policy is its trust policy: for a role-assuming action
(``sts:AssumeRole`` …) on a role ARN, ``ResourcePolicy`` is evaluated as that role's
trust policy, exactly as AssumeRole evaluates it (the trust policy must allow the caller
even in the same account; naming the account delegates to the caller's own policies),
and a trust policy (no ``Resource`` element) is accepted as ``ResourcePolicy``. AWS's
simulator is reported to ignore the trust policy for these actions
(https://github.com/aws/aws-cli/issues/10314); Tessera's answer is the one AssumeRole gives.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tessera.arn import Arn, ArnError, is_aws_managed_policy, parse_iam_arn
from tessera.errors import InvalidInputException, NoSuchEntityException, Throttling
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
    policy_size,
    policy_size_exceeds,
    principal_context,
)
from tessera.policy.conditions import as_bytes, as_ip, parse_date, parse_number
from tessera.policy.pattern import MASKS_KEPT_CHARACTERS, QMARK, SHIFT_AND_FROM, STAR, Variable, tokenize
from tessera.services import records as R
from tessera.services.iam.entities import GROUP, ROLE, USER, EntityRecord, account_of, principal_boundary, principal_tags, view_record
from tessera.services.iam.managed import view_policy
from tessera.services.iam.paging import paginate
from tessera.services.request import OperationContext, operation

ALLOW_ALL = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'

#: The most policy text one simulation may be given (PolicyInputList, the boundary and
#: the resource policy together, counted as IAM counts policy size): the largest single
#: document botocore's model lets a member carry. Checked before anything is parsed.
SIMULATION_POLICY_CHARACTERS = 131_072
#: The most work one simulation may ask for, in estimated character comparisons (about
#: a nanosecond each; see ``estimated_work``): ~0.1 s of CPU, so eight callers at once
#: cannot keep the server busy for long. AWS documents no such limit; a simulation it
#: refuses can be split into several (fewer actions, resources or context values).
SIMULATION_WORK_LIMIT = 100_000_000
#: The most one evaluation (one action on one resource) may ask for: ~5–10 ms of CPU,
#: the longest stretch a simulation runs without stepping aside (see PAUSE_SECONDS).
EVALUATION_WORK_LIMIT = 10_000_000
#: Simulations that run at once; one more is answered ``Throttling`` at once (each is
#: bounded by SIMULATION_WORK_LIMIT). Every running simulation is a thread competing
#: with the event loop for the interpreter lock, so many at once would slow every other
#: request; and one waiting for a turn would hold a thread of the operation pool, so
#: a few of them would leave none for other operations. SDKs retry ``Throttling`` with
#: backoff (https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html).
CONCURRENT_SIMULATIONS = 2
_RUNNING = threading.BoundedSemaphore(CONCURRENT_SIMULATIONS)
#: A running simulation steps aside for ``PAUSE_SECONDS`` after about this much work
#: (~2–4 ms of CPU), so the event loop never waits long for the interpreter lock.
WORK_BETWEEN_PAUSES = 5_000_000
PAUSE_SECONDS = 0.001
_STATEMENT_COST = 2_000  # evaluating one statement, conditions aside (~2 µs)
_COMPARISON_COST = 1_000  # one policy value against one request value, text aside (an IP in a CIDR: ~1 µs)
_SEGMENT_SEARCH_CAP = SHIFT_AND_FROM  # a long ``?`` segment costs no more per character of text
#: Per comparison: one ``*`` of a pattern (a segment placed, or built when the pattern
#: has variables: measured up to ~2–3.5 µs); one ``?`` or variable (a part checked, a
#: value looked up and substituted: up to ~0.5 µs). About twice the measured worst.
_STAR_COST = 3_000
_ELEMENT_COST = 1_000
#: One ``?`` segment made searchable: a regex compiled (~40 µs, plus ~1.3 µs per
#: character) or Shift-And masks built (~1 µs per character). Once per simulation for
#: a pattern without variables; per comparison for one with variables (its segments
#: exist only once the values are substituted).
_SEARCH_BUILD_COST = 50_000
_SEARCH_BUILD_CHARACTER_COST = 1_500
_LIST_TYPES = {"stringList", "numericList", "booleanList", "ipList", "binaryList", "dateList"}


@dataclass
class Simulation:
    """The compiled inputs of one simulation and where each policy came from."""

    principal: Principal
    identity: list[Policy] = field(default_factory=list)
    boundary: Policy | None = None
    resource: Policy | None = None
    trust: Policy | None = None  # ``resource`` as a role's trust policy
    scps: Sequence[Sequence[Policy]] | None = None
    sources: dict[str, tuple[str, str]] = field(default_factory=dict)  # engine id → (SourcePolicyId, type)
    texts: list[str] = field(default_factory=list)  # every policy given to the engine
    keys: dict[str, object] = field(default_factory=dict)  # context keys derived from the principal
    pace: int = 0  # (action, resource) evaluations between pauses; 0: never pause
    evaluated: int = 0

    def step(self) -> None:
        """Count one (action, resource) evaluation; every ``pace``-th, release the
        interpreter lock for a moment (a sleep is the one way a thread can)."""
        self.evaluated += 1
        if self.pace and self.evaluated % self.pace == 0:
            time.sleep(PAUSE_SECONDS)

    def add(self, text: str, policy_type: PolicyType, source_id: str, source_type: str) -> Policy:
        engine_id = f"p{len(self.sources)}"
        with simulation_input_errors():
            policy = parse_policy(text, policy_type, policy_id=engine_id)
        self.sources[engine_id] = (source_id, source_type)
        if text != ALLOW_ALL:
            self.texts.append(text)
        return policy

    def policy_set(self, action: str = "", resource: str = "") -> PolicySet:
        """The policies of one evaluation of ``action`` on ``resource``."""
        return PolicySet(
            identity=tuple(self.identity), resource=self.resource_policy(action, resource), boundary=self.boundary, scps=self.scps
        )

    def resource_policy(self, action: str, resource: str) -> Policy | None:
        """For a role-assuming ``action`` on a role ``resource``, the role's trust
        policy; a trust policy given as ``ResourcePolicy`` takes no part in other actions."""
        if assumes_role(action, resource):
            return self.trust
        return self.resource if self.resource is not self.trust else None


_ROLE_ACTIONS = frozenset(
    a.lower()
    for a in (
        "sts:AssumeRole",
        "sts:AssumeRoleWithSAML",
        "sts:AssumeRoleWithWebIdentity",
        "sts:TagSession",
        "sts:SetSourceIdentity",
        "sts:SetContext",
    )
)


def assumes_role(action: str, resource: str) -> bool:
    """Whether ``action`` on ``resource`` is authorized by a role's trust policy."""
    if action.lower() not in _ROLE_ACTIONS:
        return False
    parsed = Arn.parse(resource)
    return parsed is not None and parsed.service == "iam" and parsed.resource.startswith("role/")


@contextmanager
def simulation_input_errors() -> Iterator[None]:
    """A policy given to the simulator that IAM cannot parse is InvalidInput."""
    try:
        yield
    except PolicyError as e:
        raise InvalidInputException(e.message) from e


# -- gathering the policies ---------------------------------------------------------
def _managed(ctx: OperationContext, sim: Simulation, arn: str, policy_type: PolicyType) -> Policy | None:
    rec = view_policy(ctx, arn)
    if rec is None:
        return None
    canonical = str(rec["arn"])
    text = ctx.runtime.view.managed_policy_text(ctx.runtime.view.account(ctx.caller.account), canonical)
    if text is None:
        return None
    aws = is_aws_managed_policy(canonical)
    return sim.add(text, policy_type, str(rec["name"]), "aws-managed" if aws else "user-managed")


def _holder_policies(ctx: OperationContext, sim: Simulation, holder: EntityRecord, kind: str) -> None:
    for name, text in sorted(holder["inline_policies"].items()):
        sim.identity.append(sim.add(text, PolicyType.IDENTITY, name, kind))
    for arn in holder["attached"]:
        policy = _managed(ctx, sim, arn, PolicyType.IDENTITY)
        if policy is not None:
            sim.identity.append(policy)


def _source_entity(ctx: OperationContext, arn: str) -> tuple[str, EntityRecord]:
    """(record kind, record) of the user, group or role a PolicySourceArn names. The ARN
    must be the entity's ARN exactly as stored (path and case), so the ARN authorized by
    SimulatePrincipalPolicy is always the entity's own."""
    try:
        parsed, kind, _, name = parse_iam_arn(arn, (R.USER, R.GROUP, R.ROLE))
    except ArnError as e:
        raise InvalidInputException(f"Invalid ARN: {arn}") from e
    rec: EntityRecord | None = None
    if parsed.account == account_of(ctx):
        rec = (
            view_record(ctx, USER, name)
            if kind == R.USER
            else view_record(ctx, GROUP, name)
            if kind == R.GROUP
            else view_record(ctx, ROLE, name)
        )
    if rec is None or rec["arn"] != arn:
        raise NoSuchEntityException(f"PolicySourceArn {arn} does not exist.")
    return kind, rec


def _principal_for(account: str, kind: str, rec: EntityRecord, caller_arn: str | None) -> Principal:
    if caller_arn:
        return _caller_principal(caller_arn)
    if kind == R.ROLE:
        session = f"arn:aws:sts::{account}:assumed-role/{rec['name']}/simulation"
        return Principal("assumed-role", session, account, role_arn=rec["arn"], user_id=f"{rec['id']}:simulation")
    return Principal("user", rec["arn"], account, user_id=rec["id"])


def _caller_principal(arn: str) -> Principal:
    """CallerArn must be an IAM user (AWS rejects session ARNs here)."""
    parsed = Arn.parse(arn, any_prefix=True)
    if parsed is None or parsed.service != "iam" or not parsed.resource.startswith("user/"):
        raise InvalidInputException(f"CallerArn {arn} must be the ARN of an IAM user.")
    return Principal("user", arn, parsed.account)


def _principal_simulation(ctx: OperationContext, params: Mapping[str, Any]) -> Simulation:
    account = account_of(ctx)
    kind, rec = _source_entity(ctx, params["PolicySourceArn"])
    caller = params.get("CallerArn")
    principal = _principal_for(account, kind, rec, caller)
    keys: dict[str, object] = {}
    if caller:
        keys = principal_keys(principal)  # only what the ARN says: the caller was not authorized
    elif kind != R.GROUP:
        keys = principal_keys(principal, principal_tags(rec))
    sim = Simulation(principal, keys=keys)
    _holder_policies(ctx, sim, rec, kind)
    if "groups" in rec:  # a user
        state = ctx.runtime.view.account(account)
        for group_name in rec["groups"]:
            group = state.group(group_name) if state is not None else None
            if group is not None:
                _holder_policies(ctx, sim, group, "group")
    boundary = principal_boundary(rec)
    if kind != R.GROUP and boundary:
        sim.boundary = _managed(ctx, sim, boundary, PolicyType.BOUNDARY)
    if kind != R.GROUP:
        sim.scps = ctx.runtime.org.scps_for(account)
    return sim


def _add_inputs(sim: Simulation, params: Mapping[str, Any]) -> None:
    for i, text in enumerate(params.get("PolicyInputList") or (), start=1):
        sim.identity.append(sim.add(text, PolicyType.IDENTITY, f"PolicyInputList.{i}", "none"))
    boundaries = params.get("PermissionsBoundaryPolicyInputList") or ()
    if len(boundaries) > 1:
        raise InvalidInputException("PermissionsBoundaryPolicyInputList accepts one policy.")
    if boundaries:
        sim.boundary = sim.add(boundaries[0], PolicyType.BOUNDARY, "PermissionsBoundaryPolicyInputList.1", "none")
    if params.get("ResourcePolicy"):
        _add_resource_policy(sim, params["ResourcePolicy"])


def _add_resource_policy(sim: Simulation, text: str) -> None:
    """``ResourcePolicy`` as a resource-based policy, or (no ``Resource`` element) as a
    role trust policy; either way also as the trust policy of role-assuming actions."""
    try:
        sim.resource = sim.add(text, PolicyType.RESOURCE, "ResourcePolicy", "resource")
    except InvalidInputException as refused:
        sim.resource = sim.trust = _trust_or(sim, text, refused)
        return
    sim.trust = dataclasses.replace(sim.resource, type=PolicyType.TRUST)


def _trust_or(sim: Simulation, text: str, refused: InvalidInputException) -> Policy:
    """``text`` read as a trust policy, or the resource-based policy's refusal."""
    try:
        return sim.add(text, PolicyType.TRUST, "ResourcePolicy", "resource")
    except InvalidInputException:
        raise refused from None


# -- context ------------------------------------------------------------------------
_SINGLE_TYPES = {"string", "numeric", "boolean", "ip", "binary", "date"}


def context_from_entries(entries: Sequence[Mapping[str, Any]]) -> dict[str, object]:
    """ContextEntries → engine context values (keyed by lower-cased name), typed by
    ContextKeyType. A value its type cannot read, or several values for a single-valued
    type, is ``InvalidInput`` (the simulation never runs on a value it misread)."""
    context: dict[str, object] = {}
    for entry in entries:
        name, values = entry.get("ContextKeyName"), [str(v) for v in entry.get("ContextKeyValues") or ()]
        if not name:
            continue
        key_type = entry.get("ContextKeyType") or "string"
        if key_type not in _LIST_TYPES and key_type not in _SINGLE_TYPES:
            raise InvalidInputException(f"Invalid ContextKeyType {key_type} for context key {name}.")
        if key_type in _SINGLE_TYPES and len(values) > 1:
            raise InvalidInputException(f"Context key {name} of type {key_type} accepts one value; use {key_type}List for several.")
        typed = [_typed(str(name), v, key_type.removesuffix("List")) for v in values]
        if key_type in _LIST_TYPES:
            context[str(name).lower()] = typed
        elif typed:
            context[str(name).lower()] = typed[0]
        elif key_type == "string":
            context[str(name).lower()] = ""
    return context


def _typed(name: str, value: str, base_type: str) -> object:
    """One ContextKeyValue read as its type: numbers as Decimal, booleans ``true`` /
    ``false``, addresses, base64 binary, dates (ISO 8601 or epoch seconds)."""
    typed: object | None
    if base_type == "string":
        return value
    if base_type == "numeric":
        typed = parse_number(value)
    elif base_type == "boolean":
        typed = {"true": True, "false": False}.get(value.strip().lower())
    elif base_type == "ip":
        typed = as_ip(value)
    elif base_type == "binary":
        typed = as_bytes(value)
    else:
        typed = parse_date(value)
    if typed is None:
        shown = value if len(value) <= 64 else value[:64] + "…"
        raise InvalidInputException(f'Invalid value "{shown}" for context key {name} of type {base_type}.')
    return typed


def principal_keys(principal: Principal, tags: Sequence[Mapping[str, str]] = ()) -> dict[str, object]:
    """The context keys AWS derives from the simulated principal (lower-cased):
    ``aws:username``, ``aws:userid``, ``aws:PrincipalArn``, ``aws:PrincipalAccount``,
    ``aws:PrincipalType`` and ``aws:PrincipalTag/<key>`` for each of its tags.
    ContextEntries override any of them."""
    keys = {k.lower(): v for k, v in principal_context(principal).items()}
    for tag in tags:
        keys[f"aws:principaltag/{tag['Key']}".lower()] = tag["Value"]
    return keys


def _key_entries(keys: Mapping[str, object]) -> list[dict[str, Any]]:
    """Derived keys as ContextEntries, so the work estimate counts their values."""
    return [{"ContextKeyName": k, "ContextKeyValues": [str(v)]} for k, v in keys.items()]


# -- evaluation and results ---------------------------------------------------------
def _account_of_arn(arn: str) -> str | None:
    parsed = Arn.parse(arn)
    return parsed.account if parsed is not None and parsed.account else None


def resource_account(sim: Simulation, resource: str, owner: str | None) -> str:
    """The account that owns ``resource`` in the simulation.

    Cross-account rules apply only when a resource-based policy takes part: without
    ``ResourcePolicy`` the given policies are evaluated as the caller's own account's
    (a policy copied from AWS's docs naming account 111122223333 allows what it says).
    With one, the owner is the account the resource ARN names, else ``ResourceOwner``'s,
    else the caller's (SimulateCustomPolicy / SimulatePrincipalPolicy ``ResourceOwner``:
    https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulateCustomPolicy.html)."""
    if sim.resource is None:
        return sim.principal.account
    return _account_of_arn(resource) or (_account_of_arn(owner) if owner else None) or sim.principal.account


def _statements(sim: Simulation, decision: Decision) -> list[dict[str, Any]]:
    """The deciding statements, SCPs' left out: AWS reports an SCP's part only in
    ``OrganizationsDecisionDetail``, never its policy id, statements or condition keys."""
    out = []
    for match in decision.matched_without_scps:
        source_id, source_type = sim.sources.get(match.policy_id, (match.policy_id, "none"))
        out.append(
            {
                "SourcePolicyId": source_id,
                "SourcePolicyType": source_type,
                "StartPosition": {"Line": match.start_line, "Column": match.start_column},
                "EndPosition": {"Line": match.end_line, "Column": match.end_column},
            }
        )
    return out


def _allowed_alone(sim: Simulation, policies: PolicySet, action: str, resource: str, context: Mapping[str, object]) -> bool:
    request = Request(sim.principal, action, resource, sim.principal.account, context)
    return evaluate(request, policies).allowed


@dataclass
class _PerResource:
    result: dict[str, Any]
    decision: Decision
    cross_account: bool


def _resource_result(sim: Simulation, action: str, resource: str, context: Mapping[str, object], owner: str | None) -> _PerResource:
    sim.step()
    account = resource_account(sim, resource, owner)
    decision = evaluate(Request(sim.principal, action, resource, account, context), sim.policy_set(action, resource))
    result: dict[str, Any] = {
        "EvalResourceName": resource,
        "EvalResourceDecision": decision.result.value,
        "MatchedStatements": _statements(sim, decision),
        "MissingContextValues": list(decision.missing_context_keys_without_scps),
    }
    if sim.boundary is not None:
        allow_all = sim.add(ALLOW_ALL, PolicyType.IDENTITY, "boundary-probe", "none")
        bounded = _allowed_alone(sim, PolicySet(identity=(allow_all,), boundary=sim.boundary), action, resource, context)
        result["PermissionsBoundaryDecisionDetail"] = {"AllowedByPermissionsBoundary": bounded}
    cross_account = sim.resource is not None and account != sim.principal.account
    if cross_account:
        result["EvalDecisionDetails"] = _decision_details(sim, action, resource, context)
    return _PerResource(result, decision, cross_account)


def _decision_details(sim: Simulation, action: str, resource: str, context: Mapping[str, object]) -> dict[str, str]:
    """Cross-account: how the caller's identity-based policies and the resource-based
    policy each decide on their own (each as if it were the only side to ask)."""
    identity = evaluate(Request(sim.principal, action, resource, sim.principal.account, context), PolicySet(identity=tuple(sim.identity)))
    alone = evaluate(
        Request(sim.principal, action, resource, sim.principal.account, context), PolicySet(resource=sim.resource_policy(action, resource))
    )
    return {"IAM Policy": identity.result.value, "Resource Policy": alone.result.value}


def _combined(decisions: Sequence[Decision]) -> str:
    """The most restrictive decision: any explicit deny, else allowed only if all are."""
    results = {d.result for d in decisions}
    if DecisionResult.EXPLICIT_DENY in results:
        return DecisionResult.EXPLICIT_DENY.value
    if results == {DecisionResult.ALLOWED}:
        return DecisionResult.ALLOWED.value
    return DecisionResult.IMPLICIT_DENY.value


def _action_result(sim: Simulation, action: str, params: Mapping[str, Any], context: Mapping[str, object]) -> dict[str, Any]:
    """One EvaluationResult per action, as AWS returns it
    (https://docs.aws.amazon.com/IAM/latest/APIReference/API_EvaluationResult.html):
    the top-level decision, statements and missing keys aggregate every requested
    resource (the most restrictive decision wins); ``ResourceSpecificResults`` holds
    each resource's own when ``ResourceArns`` names resources. ``EvalDecisionDetails``
    is absent for ``*``, present and empty for a same-account resource, and filled for
    a cross-account one."""
    given = list(params.get("ResourceArns") or ())
    resources = given or ["*"]
    owner = params.get("ResourceOwner")
    per_resource = [_resource_result(sim, action, r, context, owner) for r in resources]
    decisions = [p.decision for p in per_resource]
    combined = _combined(decisions)
    deciding = [p for p in per_resource if p.decision.result.value == combined]
    result: dict[str, Any] = {
        "EvalActionName": action,
        "EvalResourceName": resources[0] if len(resources) == 1 else "*",
        "EvalDecision": combined,
        "MatchedStatements": _unique([s for p in deciding for s in p.result["MatchedStatements"]]),
        "MissingContextValues": _unique([k for p in per_resource for k in p.result["MissingContextValues"]]),
    }
    if given:
        result["ResourceSpecificResults"] = [p.result for p in per_resource]
        details = next((p.result["EvalDecisionDetails"] for p in per_resource if p.cross_account), None)
        if details is not None or given != ["*"]:
            result["EvalDecisionDetails"] = details or {}
    if sim.scps is not None:
        allow_all = sim.add(ALLOW_ALL, PolicyType.IDENTITY, "organizations-probe", "none")
        allowed = all(_allowed_alone(sim, PolicySet(identity=(allow_all,), scps=sim.scps), action, r, context) for r in resources)
        result["OrganizationsDecisionDetail"] = {"AllowedByOrganizations": allowed}
    if sim.boundary is not None:
        bounded = all(p.result["PermissionsBoundaryDecisionDetail"]["AllowedByPermissionsBoundary"] for p in per_resource)
        result["PermissionsBoundaryDecisionDetail"] = {"AllowedByPermissionsBoundary": bounded}
    return result


def _unique(items: Sequence[Any]) -> list[Any]:
    seen: set[str] = set()
    out: list[Any] = []
    for item in items:
        key = json.dumps(item, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


# -- bounds -------------------------------------------------------------------------
def check_input_size(params: Mapping[str, Any]) -> None:
    """InvalidInput when the given policies together pass SIMULATION_POLICY_CHARACTERS."""
    texts = [*(params.get("PolicyInputList") or ()), *(params.get("PermissionsBoundaryPolicyInputList") or ())]
    if params.get("ResourcePolicy"):
        texts.append(params["ResourcePolicy"])
    budget = SIMULATION_POLICY_CHARACTERS
    for text in texts:
        if policy_size_exceeds(text, budget):
            raise InvalidInputException(f"The policies given to the simulator exceed {SIMULATION_POLICY_CHARACTERS} characters in total.")
        budget -= policy_size(text)


def estimated_work(texts: Sequence[str], params: Mapping[str, Any], entries: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    """Upper estimates of the work, in units of about a nanosecond, that one (action,
    resource) evaluation and the whole simulation will take.

    Each evaluation reads every statement of every policy. A pattern costs, for each
    value it is compared with (the action, the resource, or every value of its
    condition key): a step per ``*``, ``?`` and variable; with a ``?``, up to
    min(its length, 384) steps per character of the value, else about one; and every
    policy value against every request value of its key costs a comparison (parsing an
    address, a number or a date: ~1 µs). A pattern with variables is rebuilt for each
    value it is compared with: each variable occurrence is charged the longest value
    its key has in ContextEntries, so the length that counts is that of the text after
    substitution (N occurrences of a 100-character value: N × 100 characters), and its
    ``?`` segments are made searchable again each time. Each (action, resource) pair is
    evaluated up to four times (the decision, the boundary and Organizations probes,
    the policy-type details); what is built once per simulation counts once."""
    actions = list(params.get("ActionNames") or ())
    resources = list(params.get("ResourceArns") or ["*"])
    action_length = max((len(a) for a in actions), default=0)
    resource_length = max(len(r) for r in resources)
    value_chars: dict[str, int] = {}
    value_count: dict[str, int] = {}
    longest: dict[str, int] = {}
    for entry in entries:
        name = str(entry.get("ContextKeyName") or "").lower()
        values = [str(v) for v in entry.get("ContextKeyValues") or ()]
        value_chars[name] = value_chars.get(name, 0) + sum(len(v) + 1 for v in values)
        value_count[name] = value_count.get(name, 0) + len(values)
        longest[name] = max([longest.get(name, 0), *(len(v) for v in values)])
    per_evaluation = once = 0
    for text in texts:
        for statement in _statements_of(text):
            per_evaluation += _STATEMENT_COST
            for member, length in (
                ("Action", action_length),
                ("NotAction", action_length),
                ("Resource", resource_length),
                ("NotResource", resource_length),
            ):
                variables = member.endswith("Resource")
                for pattern in _texts(statement.get(member)):
                    each, first = _pattern_cost(pattern, length + 1, 1, longest, variables)
                    per_evaluation, once = per_evaluation + each, once + first
            condition = statement.get("Condition")
            for block in condition.values() if isinstance(condition, dict) else ():
                for key, values in block.items() if isinstance(block, dict) else ():
                    name = str(key).lower()
                    count = value_count.get(name, 0)
                    for value in _texts(values):
                        each, first = _pattern_cost(value, value_chars.get(name, 0), max(count, 1), longest, True)
                        per_evaluation += each + _COMPARISON_COST * count
                        once += first
    return per_evaluation * 4 + once, per_evaluation * len(actions) * len(resources) * 4 + once


def _statements_of(text: str) -> list[dict[str, Any]]:
    document = json.loads(text)  # already accepted by the engine's stricter reader
    statements = document.get("Statement") if isinstance(document, dict) else None
    if isinstance(statements, dict):
        return [statements]
    return [s for s in statements or () if isinstance(s, dict)]


def _texts(value: object) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [] if value is None else [str(value)]


def _pattern_cost(pattern: str, text_chars: int, comparisons: int, longest: Mapping[str, int], variables: bool) -> tuple[int, int]:
    """(work per evaluation, work once per simulation) of matching ``pattern`` against
    ``comparisons`` values of ``text_chars`` characters in all. ``variables``: whether
    ``${…}`` may be substituted there (counted as if it always is: an upper bound)."""
    elements = tokenize(pattern, variables=variables)
    stars = sum(1 for e in elements if e is STAR)
    qmarks = sum(1 for e in elements if e is QMARK)
    occurrences = [e for e in elements if isinstance(e, Variable)]
    # the substituted text: the pattern (defaults included) plus each occurrence's value
    resolved = len(pattern) + sum(longest.get(v.key, 0) for v in occurrences)
    steps = _STAR_COST * stars + _ELEMENT_COST * (qmarks + len(occurrences))
    search = min(resolved, _SEGMENT_SEARCH_CAP) * (text_chars + 1) if qmarks else resolved * comparisons + text_chars
    each = comparisons * (8 + steps) + search
    if not qmarks:
        return each, 0
    build = _SEARCH_BUILD_COST * min(qmarks, stars + 1) + _SEARCH_BUILD_CHARACTER_COST * resolved
    if occurrences:
        return each + comparisons * (resolved + build), 0
    if resolved >= SHIFT_AND_FROM and len(set(pattern)) > MASKS_KEPT_CHARACTERS:
        return each + comparisons * build, 0  # masks too large to keep: built per search
    return each, build


def check_work(sim: Simulation, params: Mapping[str, Any]) -> None:
    """Refuse a simulation over SIMULATION_WORK_LIMIT; set the pace of its pauses."""
    each, work = estimated_work(sim.texts, params, params.get("ContextEntries") or ())
    if work > SIMULATION_WORK_LIMIT or each > EVALUATION_WORK_LIMIT:
        raise InvalidInputException(
            "The simulation is too large to run at once (too many actions, resources, "
            "statements or context values together); split it into smaller simulations."
        )
    pairs = len(params.get("ActionNames") or ()) * len(params.get("ResourceArns") or ["*"])
    if work > WORK_BETWEEN_PAUSES and pairs:
        sim.pace = max(1, WORK_BETWEEN_PAUSES * pairs // work)


@contextmanager
def _turn() -> Iterator[None]:
    """One of the CONCURRENT_SIMULATIONS slots, or ``Throttling`` when all are taken:
    never a wait, so no operation thread is parked behind running simulations."""
    if not _RUNNING.acquire(blocking=False):
        raise Throttling()
    try:
        yield
    finally:
        _RUNNING.release()


def _run(sim: Simulation, params: Mapping[str, Any]) -> dict[str, Any]:
    check_input_size(params)
    with _turn():
        _add_inputs(sim, params)
        entries = params.get("ContextEntries") or ()
        context = {**sim.keys, **context_from_entries(entries)}
        check_work(sim, {**params, "ContextEntries": [*_key_entries(sim.keys), *entries]})
        results = [_action_result(sim, a, params, context) for a in params["ActionNames"]]
    indexed = list(enumerate(results))
    page = paginate(indexed, lambda i: f"{i[0]:06d}", params.get("Marker"), params.get("MaxItems"))
    return page.output("EvaluationResults", lambda i: i[1])


def _checked_source(params: Mapping[str, Any]) -> str:
    source = str(params["PolicySourceArn"])
    try:
        parse_iam_arn(source, (R.USER, R.GROUP, R.ROLE))
    except ArnError as e:
        raise InvalidInputException(f"Invalid ARN: {source}") from e
    return source


@operation("iam", "SimulatePrincipalPolicy", read_only=True)
def simulate_principal_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    source = _checked_source(params)
    ctx.authorize("iam:SimulatePrincipalPolicy", source)
    if params.get("ResourcePolicy") and not params.get("CallerArn") and ":user/" not in source:
        raise InvalidInputException("CallerArn is required when a ResourcePolicy is given and PolicySourceArn is not an IAM user.")
    return _run(_principal_simulation(ctx, params), params)


@operation("iam", "SimulateCustomPolicy", read_only=True)
def simulate_custom_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    """Only the given policies count; the principal is CallerArn, or a placeholder user
    (then no context key is derived from it)."""
    ctx.authorize("iam:SimulateCustomPolicy", "*")
    account = account_of(ctx)
    caller = params.get("CallerArn")
    if params.get("ResourcePolicy") and not caller:
        raise InvalidInputException("CallerArn is required when a ResourcePolicy is given.")
    if caller:
        principal = _caller_principal(caller)
        sim = Simulation(principal, keys=principal_keys(principal))
    else:
        sim = Simulation(Principal("user", f"arn:aws:iam::{account}:user/SimulatedUser", account))
    return _run(sim, params)


# -- context keys -------------------------------------------------------------------
def context_keys(policies: Sequence[Policy]) -> list[str]:
    """The condition keys and policy variables the policies use, each once (compared
    without case, spelled as first written), statement by statement: its condition
    keys, then the variables of its ``Resource``."""
    seen: dict[str, str] = {}
    for policy in policies:
        for statement in policy.statements:
            for key in statement.referenced_keys:
                seen.setdefault(key.lower(), key)
    return list(seen.values())


@operation("iam", "GetContextKeysForCustomPolicy", read_only=True)
def get_context_keys_for_custom_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("iam:GetContextKeysForCustomPolicy", "*")
    check_input_size(params)
    account = account_of(ctx)
    sim = Simulation(Principal("user", f"arn:aws:iam::{account}:user/SimulatedUser", account))
    _add_inputs(sim, {"PolicyInputList": params["PolicyInputList"]})
    return {"ContextKeyNames": context_keys(sim.identity)}


@operation("iam", "GetContextKeysForPrincipalPolicy", read_only=True)
def get_context_keys_for_principal_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    """The keys of the entity's identity-based policies (a user's groups' included) and
    of PolicyInputList; permissions boundaries and SCPs are not part of the list."""
    ctx.authorize("iam:GetContextKeysForPrincipalPolicy", _checked_source(params))
    check_input_size(params)
    sim = _principal_simulation(ctx, {"PolicySourceArn": params["PolicySourceArn"]})
    _add_inputs(sim, {"PolicyInputList": params.get("PolicyInputList")})
    return {"ContextKeyNames": context_keys(sim.identity)}

"""The policy simulator: SimulatePrincipalPolicy for a user or role of the account, or
SimulateCustomPolicy for pasted policies, as the signed-in principal; each decision in
words, and the deciding statements marked in the policies' text (fetched with
GetUserPolicy, GetRolePolicy, GetGroupPolicy, GetPolicy and GetPolicyVersion for a
principal's own policies)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from tessera.console.highlight import highlight
from tessera.console.page import Page, route
from tessera.console.web import Request, Response
from tessera.errors import TesseraError

POLICY_FIELDS = 2
CONTEXT_ROWS = 3
CONTEXT_TYPES = (
    "string",
    "stringList",
    "numeric",
    "numericList",
    "boolean",
    "booleanList",
    "ip",
    "ipList",
    "binary",
    "binaryList",
    "date",
    "dateList",
)
DECISIONS = {"allowed": "Allowed", "explicitDeny": "Denied (explicit deny)", "implicitDeny": "Denied (implicit deny: no statement allows)"}
MANAGED_TYPES = ("user-managed", "aws-managed")


MAX_ACTIONS = 100
"""Actions one console simulation may ask about (each has one result)."""


@dataclass
class SimForm:
    """What the simulator form holds (kept as typed when the page is shown again)."""

    mode: str = "principal"  # "principal" or "custom"
    principal: str = ""
    policies: list[str] = field(default_factory=lambda: [""] * POLICY_FIELDS)
    boundary: str = ""
    resource_policy: str = ""
    actions: str = ""
    resource: str = "*"
    context: list[tuple[str, str, str]] = field(default_factory=lambda: [("", "string", "")] * CONTEXT_ROWS)

    @classmethod
    def read(cls, request: Request) -> SimForm:
        policies = (request.fields("policy") + [""] * POLICY_FIELDS)[:POLICY_FIELDS]
        keys, types, values = request.fields("context_key"), request.fields("context_type"), request.fields("context_values")
        rows = [(_at(keys, i), _at(types, i) if _at(types, i) in CONTEXT_TYPES else "string", _at(values, i)) for i in range(CONTEXT_ROWS)]
        return cls(
            mode="custom" if request.field("mode") == "custom" else "principal",
            principal=request.field("principal").strip(),
            policies=policies,
            boundary=request.field("boundary"),
            resource_policy=request.field("resource_policy"),
            actions=request.field("actions"),
            resource=request.field("resource").strip(),
            context=rows,
        )

    def params(self) -> dict[str, Any]:
        """The simulation's parameters (boto3's names and types)."""
        params: dict[str, Any] = {"ActionNames": [a for a in re.split(r"[\s,]+", self.actions) if a]}
        if self.resource:
            params["ResourceArns"] = [self.resource]
        policies = [text for text in self.policies if text.strip()]
        if policies:
            params["PolicyInputList"] = policies
        if self.boundary.strip():
            params["PermissionsBoundaryPolicyInputList"] = [self.boundary]
        if self.resource_policy.strip():
            params["ResourcePolicy"] = self.resource_policy
        entries = [
            {"ContextKeyName": key.strip(), "ContextKeyType": kind, "ContextKeyValues": [v.strip() for v in values.split(",")]}
            for key, kind, values in self.context
            if key.strip()
        ]
        if entries:
            params["ContextEntries"] = entries
        if self.mode == "principal":
            params["PolicySourceArn"] = self.principal
        return params


def _at(items: list[str], index: int) -> str:
    return items[index] if index < len(items) else ""


@route("GET", "/simulator")
def simulator(page: Page) -> Response:
    return _show(page, SimForm(), None, "")


@route("POST", "/simulator")
def simulate(page: Page) -> Response:
    form = SimForm.read(page.request)
    operation = "SimulatePrincipalPolicy" if form.mode == "principal" else "SimulateCustomPolicy"
    params = form.params()
    if len(params["ActionNames"]) > MAX_ACTIONS:
        return _show(page, form, None, f"Simulate at most {MAX_ACTIONS} actions at a time.", status=400)
    try:
        # one call: every result on one page, so the simulator's own limits bound the page
        results = page.api.iam(operation, MaxItems=MAX_ACTIONS, **params)["EvaluationResults"]
    except TesseraError as error:
        return _show(page, form, None, error.message, status=400 if error.status < 500 else error.status)
    return _show(page, form, results, "")


def _show(page: Page, form: SimForm, results: list[dict[str, Any]] | None, error: str, status: int = 200) -> Response:
    principals, principals_error = _principals(page)
    rows = decision_rows(results or [])
    texts = _policy_texts(page, form, rows) if results else []
    return page.render(
        "simulator.html",
        status=status,
        form=form,
        principals=principals,
        principals_error=principals_error,
        context_types=CONTEXT_TYPES,
        error=error,
        rows=rows,
        texts=texts,
        simulated=results is not None,
    )


def _principals(page: Page) -> tuple[list[tuple[str, str]], str]:
    """(ARN, label) of the account's users and roles (ListUsers, ListRoles)."""
    try:
        users = page.api.pages("iam", "ListUsers", "Users")
        roles = page.api.pages("iam", "ListRoles", "Roles")
    except TesseraError as error:
        return [], error.message
    return [(u["Arn"], f"User: {u['UserName']}") for u in users] + [(r["Arn"], f"Role: {r['RoleName']}") for r in roles], ""


def decision_rows(results: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per action and resource: the decision in words, its deciding statements
    and the missing context keys."""
    rows = []
    for result in results:
        per_resource = result.get("ResourceSpecificResults") or [
            {
                "EvalResourceName": result.get("EvalResourceName", "*"),
                "EvalResourceDecision": result["EvalDecision"],
                "MatchedStatements": result.get("MatchedStatements", []),
                "MissingContextValues": result.get("MissingContextValues", []),
            }
        ]
        for item in per_resource:
            decision = str(item["EvalResourceDecision"])
            rows.append(
                {
                    "action": result["EvalActionName"],
                    "resource": item.get("EvalResourceName", "*"),
                    "decision": decision,
                    "label": DECISIONS.get(decision, decision),
                    "statements": list(item.get("MatchedStatements") or []),
                    "missing": list(item.get("MissingContextValues") or result.get("MissingContextValues") or []),
                }
            )
    return rows


@dataclass
class PolicyText:
    source_id: str
    source_type: str
    anchor: str
    text: Markup | None
    error: str = ""


def _policy_texts(page: Page, form: SimForm, rows: list[dict[str, Any]]) -> list[PolicyText]:
    """Each policy a deciding statement comes from, its text marked."""
    matched: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        for statement in row["statements"]:
            matched.setdefault((statement["SourcePolicyType"], statement["SourcePolicyId"]), []).append(statement)
    given = {f"PolicyInputList.{i}": text for i, text in enumerate([t for t in form.policies if t.strip()], start=1)}
    given["PermissionsBoundaryPolicyInputList.1"] = form.boundary
    given["ResourcePolicy"] = form.resource_policy
    out = []
    for index, ((kind, source_id), statements) in enumerate(sorted(matched.items())):
        try:
            text = given[source_id] if kind in ("none", "resource") else _principal_policy(page, form.principal, kind, source_id)
        except (TesseraError, KeyError) as error:
            message = error.message if isinstance(error, TesseraError) else "not found"
            out.append(PolicyText(source_id, kind, f"policy-{index}", None, message))
            continue
        out.append(PolicyText(source_id, kind, f"policy-{index}", highlight(text, statements)))
    anchors = {(policy.source_type, policy.source_id): policy.anchor for policy in out}
    for row in rows:
        row["anchors"] = [anchors[(s["SourcePolicyType"], s["SourcePolicyId"])] for s in row["statements"]]
    return out


def _principal_policy(page: Page, arn: str, kind: str, name: str) -> str:
    """The text of a policy of the simulated principal, as IAM returns it."""
    api = page.api
    entity = arn.rpartition("/")[2]
    if kind == "user":
        return str(api.iam("GetUserPolicy", UserName=entity, PolicyName=name)["PolicyDocument"])
    if kind == "role":
        return str(api.iam("GetRolePolicy", RoleName=entity, PolicyName=name)["PolicyDocument"])
    if kind == "group":
        for group in api.pages("iam", "ListGroupsForUser", "Groups", UserName=entity):
            if name in api.pages("iam", "ListGroupPolicies", "PolicyNames", GroupName=group["GroupName"]):
                return str(api.iam("GetGroupPolicy", GroupName=group["GroupName"], PolicyName=name)["PolicyDocument"])
        raise KeyError(name)
    if kind in MANAGED_TYPES:
        policy_arn = _managed_arn(page, arn, name)
        version = api.iam("GetPolicy", PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
        return str(api.iam("GetPolicyVersion", PolicyArn=policy_arn, VersionId=version)["PolicyVersion"]["Document"])
    raise KeyError(name)


def _managed_arn(page: Page, arn: str, name: str) -> str:
    """The ARN of the managed policy called ``name`` attached to the principal (or its
    groups), or its permissions boundary."""
    api, entity = page.api, arn.rpartition("/")[2]
    if ":role/" in arn:
        attached = api.pages("iam", "ListAttachedRolePolicies", "AttachedPolicies", RoleName=entity)
        holder = api.iam("GetRole", RoleName=entity)["Role"]
    else:
        attached = api.pages("iam", "ListAttachedUserPolicies", "AttachedPolicies", UserName=entity)
        for group in api.pages("iam", "ListGroupsForUser", "Groups", UserName=entity):
            attached += api.pages("iam", "ListAttachedGroupPolicies", "AttachedPolicies", GroupName=group["GroupName"])
        holder = api.iam("GetUser", UserName=entity)["User"]
    for policy in attached:
        if policy["PolicyName"] == name:
            return str(policy["PolicyArn"])
    boundary = (holder.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
    if boundary and str(boundary).rpartition("/")[2] == name:
        return str(boundary)
    raise KeyError(name)

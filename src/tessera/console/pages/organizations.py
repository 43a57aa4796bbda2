"""Organizations: the tree of the root, OUs and accounts with the SCPs attached to each,
and every SCP with its content and the targets it applies to; attach and detach.

Calls, as the signed-in principal: DescribeOrganization, ListRoots,
ListOrganizationalUnitsForParent and ListAccountsForParent (recursively),
ListPoliciesForTarget for each node, ListPolicies (SERVICE_CONTROL_POLICY),
DescribePolicy and ListTargetsForPolicy for each SCP; AttachPolicy and DetachPolicy for
the forms. An account outside any organization, or a caller not allowed, sees AWS's
message instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tessera.console.diff import pretty_json
from tessera.console.page import Page, route, url
from tessera.console.web import Response
from tessera.errors import TesseraError

SCP = "SERVICE_CONTROL_POLICY"
DONE = {"attached": "The policy was attached.", "detached": "The policy was detached."}


@dataclass
class Node:
    """A root, OU or account of the tree, with the SCPs attached to it directly."""

    kind: str  # "Root", "OU", "Account"
    id: str
    name: str
    policies: list[dict[str, Any]] = field(default_factory=list)
    policies_error: str = ""
    children: list[Node] = field(default_factory=list)

    def flat(self, depth: int = 0) -> list[tuple[int, Node]]:
        """This node and those under it, depth first (for the target list)."""
        out = [(depth, self)]
        for child in self.children:
            out += child.flat(depth + 1)
        return out


@route("GET", "/organizations")
def organizations(page: Page) -> Response:
    message = DONE.get(page.request.arg("done"))
    if message:
        page.flash.append(message)
    return _organizations_page(page)


@route("POST", "/organizations")
def change_organizations(page: Page) -> Response:
    action = page.request.field("action")
    operation = {"attach": "AttachPolicy", "detach": "DetachPolicy"}.get(action)
    typed = {"policy": page.request.field("policy"), "target": page.request.field("target")}
    if operation is None:
        return _organizations_page(page, error=f"Unknown action '{action}'.", status=400)
    try:
        page.api.org(operation, PolicyId=typed["policy"], TargetId=typed["target"])
    except TesseraError as error:
        return _organizations_page(page, error=error.message, code=error.code, status=error.status, typed=typed)
    return Response.redirect(url("organizations", done=action + "ed"))


def _organizations_page(page: Page, *, error: str = "", code: str = "", status: int = 200, typed: dict[str, str] | None = None) -> Response:
    values: dict[str, Any] = {"error": error, "code": code, "typed": typed or {"policy": "", "target": ""}}
    try:
        organization = page.api.org("DescribeOrganization")["Organization"]
    except TesseraError as refused:
        return page.render(
            "organizations.html", status=status, organization=None, refused=refused, roots=[], targets=[], scps=[], scps_error="", **values
        )
    roots = [_walk(page, root, "Root") for root in page.api.pages("organizations", "ListRoots", "Roots")]
    scps, scps_error = _scps(page)
    return page.render(
        "organizations.html",
        status=status,
        organization=organization,
        refused=None,
        roots=roots,
        targets=[item for root in roots for item in root.flat()],
        scps=scps,
        scps_error=scps_error,
        **values,
    )


def _walk(page: Page, entity: dict[str, Any], kind: str) -> Node:
    """``entity`` (a root, OU or account) with its SCPs and, under a root or OU, its OUs
    then its accounts. OUs nest at most five deep, so the recursion is shallow."""
    node = Node(kind, str(entity["Id"]), str(entity.get("Name", entity["Id"])))
    try:
        found = page.api.pages("organizations", "ListPoliciesForTarget", "Policies", TargetId=node.id, Filter=SCP)
        node.policies = sorted(found, key=lambda policy: str(policy["Name"]).casefold())
    except TesseraError as error:
        node.policies_error = error.message
    if kind == "Account":
        return node
    units = page.api.pages("organizations", "ListOrganizationalUnitsForParent", "OrganizationalUnits", ParentId=node.id)
    accounts = page.api.pages("organizations", "ListAccountsForParent", "Accounts", ParentId=node.id)
    node.children = [_walk(page, unit, "OU") for unit in sorted(units, key=lambda u: str(u["Name"]).casefold())]
    node.children += [_walk(page, account, "Account") for account in sorted(accounts, key=lambda a: str(a["Name"]).casefold())]
    return node


def _scps(page: Page) -> tuple[list[dict[str, Any]], str]:
    """Every SCP with its content (pretty-printed) and its targets."""
    try:
        summaries = page.api.pages("organizations", "ListPolicies", "Policies", Filter=SCP)
    except TesseraError as error:
        return [], error.message
    scps = []
    for summary in sorted(summaries, key=lambda s: str(s["Name"]).casefold()):
        scp: dict[str, Any] = {"summary": summary, "content": "", "targets": [], "error": ""}
        try:
            described = page.api.org("DescribePolicy", PolicyId=summary["Id"])["Policy"]
            scp["content"] = pretty_json(str(described["Content"]))
            targets = page.api.pages("organizations", "ListTargetsForPolicy", "Targets", PolicyId=summary["Id"])
            scp["targets"] = sorted(targets, key=lambda target: str(target["Name"]).casefold())
        except TesseraError as error:
            scp["error"] = error.message
        scps.append(scp)
    return scps, ""

"""Trust policies bind the principals they name, as AWS does.

When a trust policy is saved, IAM records the unique id of every existing user and role
it names by ARN. If that principal is later deleted, AWS shows (and evaluates) the
policy with the unique id in place of the ARN, so a user or role created again under
the same name is *not* trusted: it is a different principal. Tessera keeps the ids next
to the stored text (``principal_ids`` on the role record) and rewrites the names whose
principal is gone or replaced whenever the policy is read for evaluation or display.
The common case — every named principal still the one recorded — costs one dict lookup
per name and returns the stored text unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from tessera.arn import Arn
from tessera.policy import Policy
from tessera.services import records as R
from tessera.services.view import StateView


def principal_ids(view: StateView, policy: Policy) -> dict[str, str]:
    """ARN → unique id of each user and role the policy names that exists now."""
    named: set[str] = set()
    for statement in policy.statements:
        element = statement.principal
        if element is not None:
            named |= element.users | element.roles
    ids = {}
    for arn in sorted(named):
        current = _current_id(view, arn)
        if current is not None:
            ids[arn] = current
    return ids


def effective_trust_policy(view: StateView, record: R.RoleRecord) -> str:
    """The role's trust policy as it applies now: the stored text, or — when a principal
    it named has been deleted or replaced — the text with that ARN swapped for the id."""
    text: str = record["trust_policy"]
    recorded: Mapping[str, str] = record.get("principal_ids") or {}  # absent on older roles
    stale = {arn: uid for arn, uid in recorded.items() if _current_id(view, arn) != uid}
    if not stale:
        return text
    document = json.loads(text)
    statements = document.get("Statement")
    for statement in statements if isinstance(statements, list) else [statements]:
        for element in ("Principal", "NotPrincipal"):
            value = statement.get(element) if isinstance(statement, dict) else None
            if isinstance(value, dict) and "AWS" in value:
                value["AWS"] = _replaced(value["AWS"], stale)
    return json.dumps(document)


def _replaced(entries: str | Iterable[str], stale: Mapping[str, str]) -> str | list[str]:
    if isinstance(entries, str):
        return stale.get(entries, entries)
    return [stale.get(entry, entry) for entry in entries]


def _current_id(view: StateView, arn: str) -> str | None:
    """The unique id of the user or role that has ``arn`` now, if any."""
    parsed = Arn.parse(arn)
    state = view.account(parsed.account) if parsed is not None else None
    if parsed is None or state is None:
        return None
    kind, name = parsed.resource_type, parsed.resource_name
    record: R.UserRecord | R.RoleRecord | None = state.user(name) if kind == "user" else state.role(name) if kind == "role" else None
    if record is None or record["arn"] != arn:
        return None
    return record["id"]

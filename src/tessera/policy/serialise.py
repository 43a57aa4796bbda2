"""The canonical text of a policy: same meaning, one spelling.

``serialise(parse_policy(t))`` writes compact JSON with elements in the grammar's order
(Version, Id, Statement; Sid, Effect, Principal…, Condition), ``Statement`` always a
list and ``Version`` always explicit. Values keep their written shape (a string stays a
string, a list a list) so nothing the author wrote is lost, and parsing the output gives
a policy whose canonical text is identical.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal

from tessera.policy.model import STATEMENT_FIELDS, Policy, Statement


def serialise(policy: Policy) -> str:
    parts = [f'"Version":{_dump(policy.version)}']
    if policy.document_id is not None:
        parts.append(f'"Id":{_dump(policy.document_id)}')
    statements = ",".join(statement_json(s) for s in policy.statements)
    parts.append(f'"Statement":[{statements}]')
    return "{" + ",".join(parts) + "}"


def statement_json(statement: Statement) -> str:
    element = statement.element
    members = [f"{_dump(k)}:{_dump(element[k])}" for k in STATEMENT_FIELDS if k in element]
    return "{" + ",".join(members) + "}"


def _dump(value: object) -> str:
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{_dump(k)}:{_dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, tuple | list):
        return "[" + ",".join(_dump(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value, ensure_ascii=False)

"""Indexed fields: the values of a few top-level fields of every record, so a write
finds the records that refer to a user, group, role or policy without reading every
record of their kind.

The records already stored are indexed here, in the migration's transaction.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The fields as of this revision (store.base.INDEXED_FIELDS may grow in later ones).
_FIELDS = ("user", "groups", "role_ids", "attached", "boundary", "sha256")
_BATCH = 1000


def _identifier() -> sa.types.TypeEngine[str]:
    return sa.String().with_variant(sa.String(collation="C"), "postgresql")


def _values(data: dict[str, Any]) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for field in _FIELDS:
        value = data.get(field)
        if isinstance(value, str):
            found.add((field, value))
        elif isinstance(value, list):
            found.update((field, item) for item in value if isinstance(item, str))
    return found


def upgrade() -> None:
    refs = op.create_table(
        "record_refs",
        sa.Column("scope", _identifier(), primary_key=True),
        sa.Column("kind", _identifier(), primary_key=True),
        sa.Column("field", _identifier(), primary_key=True),
        sa.Column("value", _identifier(), primary_key=True),
        sa.Column("key", _identifier(), primary_key=True),
    )
    op.create_index("ix_record_refs_record", "record_refs", ["scope", "kind", "key"])
    conn = op.get_bind()
    rows: list[dict[str, str]] = []
    for scope, kind, key, data in conn.execute(sa.text("SELECT scope, kind, key, data FROM records")).yield_per(_BATCH):
        document = json.loads(data)
        if isinstance(document, dict):
            rows.extend({"scope": scope, "kind": kind, "field": f, "value": v, "key": key} for f, v in sorted(_values(document)))
        if len(rows) >= _BATCH:
            conn.execute(refs.insert(), rows)
            rows = []
    if rows:
        conn.execute(refs.insert(), rows)


def downgrade() -> None:
    op.drop_index("ix_record_refs_record", table_name="record_refs")
    op.drop_table("record_refs")

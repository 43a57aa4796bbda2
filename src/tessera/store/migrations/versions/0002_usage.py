"""Last-use records of access keys and roles.

They are kept apart from ``records`` so that noting a use never bumps an account's
generation (which would rebuild its in-memory view).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _identifier() -> sa.types.TypeEngine[str]:
    return sa.String().with_variant(sa.String(collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "usage",
        sa.Column("scope", _identifier(), primary_key=True),
        sa.Column("kind", _identifier(), primary_key=True),
        sa.Column("key", _identifier(), primary_key=True),
        sa.Column("data", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("usage")

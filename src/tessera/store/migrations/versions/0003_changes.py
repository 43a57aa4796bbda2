"""The change feed: what each write transaction changed, so views catch up by the
changes since their generation instead of reloading whole scopes.

The feed of every existing scope starts at its current generation (``feed_floor``):
what came before was never recorded, so a view older than that reads a snapshot.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _identifier() -> sa.types.TypeEngine[str]:
    return sa.String().with_variant(sa.String(collation="C"), "postgresql")


def upgrade() -> None:
    op.add_column("scopes", sa.Column("feed_floor", sa.BigInteger(), nullable=False, server_default="0"))
    op.execute("UPDATE scopes SET feed_floor = generation")
    op.create_table(
        "changes",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("scope", _identifier(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("kind", _identifier(), nullable=False),
        sa.Column("key", _identifier(), nullable=False),
        sa.Column("data", sa.Text(), nullable=True),
    )
    op.create_index("ix_changes_scope_generation", "changes", ["scope", "generation"])


def downgrade() -> None:
    op.drop_index("ix_changes_scope_generation", table_name="changes")
    op.drop_table("changes")
    with op.batch_alter_table("scopes") as batch:
        batch.drop_column("feed_floor")

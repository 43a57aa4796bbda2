"""Claims and budgets: what every process and node sharing the store must agree on.

``claims``: things that may be used once (a SAML assertion carrying ``<OneTimeUse/>``),
each held until it expires. ``budgets``: the failure budgets of online guessing (MFA
codes, passwords, console sign-ins), each row a key's recent failures and lock-out,
deleted once idle.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _identifier() -> sa.types.TypeEngine[str]:
    return sa.String().with_variant(sa.String(collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "claims",
        sa.Column("kind", _identifier(), primary_key=True),
        sa.Column("key", _identifier(), primary_key=True),
        sa.Column("until", _identifier(), nullable=False),
    )
    op.create_index("ix_claims_until", "claims", ["kind", "until"])
    op.create_table(
        "budgets",
        sa.Column("kind", _identifier(), primary_key=True),
        sa.Column("key", _identifier(), primary_key=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("until", _identifier(), nullable=False),
    )
    op.create_index("ix_budgets_until", "budgets", ["kind", "until"])


def downgrade() -> None:
    op.drop_table("budgets")
    op.drop_table("claims")

"""Claims: things that may be used once across every process and node sharing the store
(a SAML assertion carrying ``<OneTimeUse/>``), each held until it expires.

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


def downgrade() -> None:
    op.drop_table("claims")

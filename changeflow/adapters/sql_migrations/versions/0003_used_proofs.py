"""Proofs of identity already accepted (a one-time code's step, a signature's hash): each counts once.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "used_proofs",
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("change_id", sa.String(64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("used_proofs")

"""The facts the DORA report needs, kept beside each current record (so the report reads ~150 bytes a
record instead of the whole record); rows saved before this revision get theirs on the next read.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("change_records", sa.Column("facts", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("change_records") as batch:
        batch.drop_column("facts")

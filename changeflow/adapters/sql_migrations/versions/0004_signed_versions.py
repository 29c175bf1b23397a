"""Signed, globally sequenced record versions, and a versions table that only takes inserts.

Each version gets ``seq`` (one gapless sequence across every record: a deleted record or version leaves
a gap), ``signer`` (the executor key's ID) and ``signature`` (Ed25519 over seq and the version's digest).
A trigger refuses UPDATE and DELETE on the versions table, so the application cannot rewrite history;
a database administrator who drops the trigger still cannot forge a signature.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION changeflow_versions_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'change_record_versions is append-only: % refused', TG_OP;
END;
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    with op.batch_alter_table("change_record_versions") as batch:
        batch.add_column(sa.Column("seq", sa.Integer, nullable=True))
        batch.add_column(sa.Column("signer", sa.String(32), nullable=False, server_default=""))
        batch.add_column(sa.Column("signature", sa.Text, nullable=False, server_default=""))
        batch.create_index("ux_change_record_versions_seq", ["seq"], unique=True)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER changeflow_versions_append_only BEFORE UPDATE OR DELETE ON change_record_versions "
            "FOR EACH ROW EXECUTE FUNCTION changeflow_versions_append_only()"
        )
        op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON change_record_versions FROM PUBLIC")
    else:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER changeflow_versions_no_{operation.lower()} BEFORE {operation} ON change_record_versions "
                f"BEGIN SELECT RAISE(ABORT, 'change_record_versions is append-only: {operation} refused'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS changeflow_versions_append_only ON change_record_versions")
        op.execute("DROP FUNCTION IF EXISTS changeflow_versions_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS changeflow_versions_no_update")
        op.execute("DROP TRIGGER IF EXISTS changeflow_versions_no_delete")
    with op.batch_alter_table("change_record_versions") as batch:
        batch.drop_index("ux_change_record_versions_seq")
        batch.drop_column("signature")
        batch.drop_column("signer")
        batch.drop_column("seq")

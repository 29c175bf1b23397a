"""PostgreSQL: the application writes as the group role ``changeflow_writer``, which may only append history.

The schema owner (the role running this migration: a database administrator's) keeps every table. The
NOLOGIN group ``changeflow_writer`` (created when missing; roles are cluster-wide) gets USAGE on the
schema, SELECT on every table, INSERT on the versions and used-proofs tables, and INSERT and UPDATE on
the current-record table (a derived cache: executors act only on a record whose current row equals its
signed chain's head). No UPDATE, DELETE or TRUNCATE on versions or proofs, and it owns nothing, so it
cannot disable or drop the triggers or grant itself more. A statement trigger now refuses TRUNCATE of
the versions table too, also to the owner (the row trigger of 0004 does not see a TRUNCATE). The tables
use no sequences. SQLite has no roles: nothing to do.

The application's login roles are made members by the DBA (``GRANT changeflow_writer TO app_login``, or
``changeflow records migrate --url OWNER_URL --member app_login``). A later revision that adds a table
grants the writer what it needs of it.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

WRITER = "changeflow_writer"
TABLES = ("changeflow_alembic_version", "change_records", "change_record_versions", "used_proofs")
CREATE_WRITER = f"""
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{WRITER}') THEN
    BEGIN
      CREATE ROLE {WRITER} NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;  -- created at once by another database's migration
    END;
  END IF;
END
$$
"""


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute(CREATE_WRITER)
    op.execute(
        "CREATE TRIGGER changeflow_versions_no_truncate BEFORE TRUNCATE ON change_record_versions "
        "FOR EACH STATEMENT EXECUTE FUNCTION changeflow_versions_append_only()"
    )
    schema = bind.dialect.identifier_preparer.quote(bind.exec_driver_sql("SELECT current_schema()").scalar())
    op.execute(f"GRANT USAGE ON SCHEMA {schema} TO {WRITER}")
    op.execute(f"REVOKE ALL ON {', '.join(TABLES)} FROM {WRITER}")  # whatever it had before: exactly what follows
    op.execute(f"GRANT SELECT ON {', '.join(TABLES)} TO {WRITER}")
    op.execute(f"GRANT INSERT ON change_record_versions, used_proofs TO {WRITER}")
    op.execute(f"GRANT INSERT, UPDATE ON change_records TO {WRITER}")
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON change_record_versions, used_proofs FROM PUBLIC")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS changeflow_versions_no_truncate ON change_record_versions")
    op.execute(f"REVOKE ALL ON {', '.join(TABLES)} FROM {WRITER}")
    schema = bind.dialect.identifier_preparer.quote(bind.exec_driver_sql("SELECT current_schema()").scalar())
    op.execute(f"REVOKE USAGE ON SCHEMA {schema} FROM {WRITER}")  # the role stays: other databases may use it

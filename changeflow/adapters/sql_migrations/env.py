"""Alembic's entry: runs the migrations on the connection ``SqlRecordStore`` hands over."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, version_table="changeflow_alembic_version")
with context.begin_transaction():
    context.run_migrations()

"""Alembic migrations of the change-record database (run by ``SqlRecordStore`` on first use)."""

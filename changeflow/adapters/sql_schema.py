"""The change-record tables, as SQLAlchemy Core sees them (the Alembic migrations create them).

``change_records`` holds the current version of each record, with the columns readers filter on;
``change_record_versions`` holds every version ever saved, append-only (a trigger refuses UPDATE and
DELETE), each chained to the one before, numbered in one sequence across all records and signed by the
executor that wrote it.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

current = Table(
    "change_records",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("model", String(255), nullable=False),
    Column("state", String(32), nullable=False),
    Column("type", String(16), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("slot_start", DateTime(timezone=True), nullable=True),
    Column("version", Integer, nullable=False),
    Column("transitions", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content", Text, nullable=False),
    Column("facts", Text, nullable=True),
    Index("ix_change_records_model_state", "model", "state"),
    Index("ix_change_records_state_slot", "state", "slot_start"),
    Index("ix_change_records_type", "type"),
    Index("ix_change_records_opened_at", "opened_at"),
    Index("ix_change_records_updated_at", "updated_at"),
)

versions = Table(
    "change_record_versions",
    metadata,
    Column("change_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("saved_at", DateTime(timezone=True), nullable=False),
    Column("writer", String(255), nullable=False),
    Column("state", String(32), nullable=False),
    Column("previous_sha256", String(64), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content", Text, nullable=False),
    Column("seq", Integer, nullable=True, unique=True),
    Column("signer", String(32), nullable=False, server_default=""),
    Column("signature", Text, nullable=False, server_default=""),
)

used_proofs = Table(
    "used_proofs",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("change_id", String(64), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=False),
)

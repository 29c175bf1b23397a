"""What a database administrator can do that the application cannot: drop the append-only triggers and
rewrite or delete versions. The tests that play such an insider use this, then expect detection."""

from sqlalchemy import text


def drop_append_only(engine) -> None:
    with engine.begin() as db:
        if db.dialect.name == "postgresql":
            db.execute(text("DROP TRIGGER IF EXISTS changeflow_versions_append_only ON change_record_versions"))
            db.execute(text("DROP TRIGGER IF EXISTS changeflow_versions_no_truncate ON change_record_versions"))
        else:
            db.execute(text("DROP TRIGGER IF EXISTS changeflow_versions_no_update"))
            db.execute(text("DROP TRIGGER IF EXISTS changeflow_versions_no_delete"))

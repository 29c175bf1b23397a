"""The record database's schema: opening an engine, migrating it, and who may do which.

On PostgreSQL two kinds of role touch the database. The **schema owner** (a database administrator's
URL) runs the migrations: ``changeflow records migrate --url OWNER_URL``. The **application** (executors,
the CLI) logs in as a role that is a member of the NOLOGIN group ``changeflow_writer`` (revision 0005
creates it): it reads every table, appends versions and used proofs, inserts and updates the current
rows (a derived cache: executors act only on a record whose current row is its signed chain's head), and
owns nothing, so it cannot update, delete or truncate versions, disable or drop the triggers, or grant
itself more. A store opened by a role that cannot migrate finds the schema at head and changes nothing,
or fails in one line naming the fix. SQLite has no roles: whoever opens the file migrates it.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from changeflow.exceptions import RecordStoreError

WRITER_ROLE = "changeflow_writer"
VERSION_TABLE = "changeflow_alembic_version"
HEAD = "0005"  # the newest revision (a test holds it to alembic's): a store at head opens without alembic
_migrated: set[str] = set()
_migrating = threading.Lock()


def engine_for(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _wal(dbapi_connection, _record) -> None:  # readers do not wait for a writer
            dbapi_connection.execute("PRAGMA journal_mode=WAL")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=4)


def _config():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("changeflow.adapters") / "sql_migrations"))
    return config


@functools.cache
def head() -> str:
    """The newest revision this changeflow knows."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()


def revision(connection) -> str | None:
    """The database's revision; None when it has no changeflow schema yet."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()


def _denied(exc: DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == "42501"  # insufficient_privilege


def _cannot_migrate(engine: Engine, current: str | None, exc: DBAPIError) -> RecordStoreError:
    reason = " ".join(str(exc.orig).split()).split(" CONTEXT:")[0][:200]
    at = f"at revision {current}" if current else "without a changeflow schema it can read"
    return RecordStoreError(
        f"record database {engine.url.render_as_string()} is {at}, this changeflow needs {head()}, and its role may not "
        f"migrate it ({reason}); fix: the schema owner runs `changeflow records migrate --url OWNER_URL`"
    )


def _current(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return revision(connection)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision, once per process and URL; safe when several processes
    start at once (PostgreSQL: an advisory lock; SQLite: the loser of a race retries and finds it done).
    A schema already at head is only read, so a writer role that may create nothing opens it."""
    key = engine.url.render_as_string(hide_password=False)
    with _migrating:
        if key in _migrated:
            return
        if _at_head(engine):  # one SELECT: importing alembic and its scripts is a third of a reader's start
            _migrated.add(key)
            return
        current = None
        try:
            current = _current(engine)
        except ProgrammingError as exc:
            if _denied(exc):
                raise _cannot_migrate(engine, None, exc) from None
            raise
        if current != head():
            try:
                _upgrade(engine)
            except ProgrammingError as exc:
                if _denied(exc):
                    raise _cannot_migrate(engine, current, exc) from None
                raise
        _migrated.add(key)


def _at_head(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all() == [HEAD]
    except DBAPIError:  # no table yet, or not readable: the full path decides and says why
        return False


def _upgrade(engine: Engine) -> None:
    from alembic import command

    config = _config()
    for attempt in range(3):
        try:
            with engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    connection.execute(text("SELECT pg_advisory_xact_lock(74210001)"))
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
            return
        except (OperationalError, ProgrammingError) as exc:  # SQLite: another process created it first
            if attempt == 2 or _denied(exc):
                raise
            time.sleep(0.2)


def upgrade(url: str, members: Iterable[str] = ()) -> tuple[str | None, str]:
    """As the schema owner: migrate the database at ``url`` to head, then (PostgreSQL) make each login
    role in ``members`` a member of the writer group. Returns (revision before, revision after)."""
    engine = engine_for(url)
    try:
        before = _current(engine)
        _upgrade(engine)
        members = list(members)
        if members:
            if engine.dialect.name != "postgresql":
                raise RecordStoreError("--member applies to PostgreSQL only: SQLite has no roles")
            with engine.begin() as connection:
                quote = connection.dialect.identifier_preparer.quote
                for member in members:
                    connection.execute(text(f"GRANT {WRITER_ROLE} TO {quote(member)}"))
        with engine.connect() as connection:
            return before, revision(connection)
    except DBAPIError as exc:
        reason = " ".join(str(exc.orig).split())[:200]
        raise RecordStoreError(
            f"record database {engine.url.render_as_string()} could not be migrated ({reason}); "
            "fix: check the URL; it must be the schema owner's (a role that may create roles and grant them)"
        ) from None
    finally:
        engine.dispose()

"""On PostgreSQL the application may only append history (#23): the schema owner (a DBA) migrates, the
application logs in as a role in the group ``changeflow_writer``. As that role the store saves and reads;
rewriting, deleting or truncating versions, touching the triggers or granting itself more are refused by
the database's permissions; the owner is still refused by the triggers. One private PostgreSQL (the
session's); its tests skip, naming it, where PostgreSQL cannot run. The command line's refusals need none."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from changeflow.adapters import sql_migrate
from changeflow.adapters.sql_records import SqlRecordStore
from changeflow.cli import app
from changeflow.domain.history import RecordQuery, verify_chain
from changeflow.domain.record import ChangeRecord, State, Transition
from changeflow.domain.request import ChangeType, Risk
from changeflow.exceptions import RecordStoreError

AT = datetime(2026, 11, 25, 22, 0, tzinfo=timezone.utc)
APP = "changeflow_app"


def opened(change_id: str) -> ChangeRecord:
    r = ChangeRecord(
        id=change_id,
        description="d",
        type=ChangeType.NORMAL,
        kind="model_deployment",
        model="m",
        requester="alice",
        risk=Risk.MEDIUM,
    )
    r.transitions.append(Transition(from_state=None, to_state=State.REQUESTED, at=AT, reason="requested"))
    return r


def cli(*args: str, **env: str):
    return CliRunner().invoke(
        app, list(args), env={"CHANGEFLOW_ENVIRONMENT": "/nonexistent/environment.yaml", "PREFECT_API_URL": "", **env}
    )


def fresh_database(postgres) -> str:
    return postgres.create_database(f"roles_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="module")
def roles(postgres):
    """(owner URL, application URL) of one database: migrated by the owner, who then makes the
    application's login role a member of the writer group, as a team would."""
    database = fresh_database(postgres)
    owner, app_url = postgres.url(database), postgres.app_url(database, APP)  # the DBA creates the login role
    result = cli("records", "migrate", "--url", owner, "--member", APP)
    assert result.exit_code == 0, result.output
    assert (
        f"revision (none) -> {sql_migrate.head()}" in result.output
        and f"{APP} is a member of changeflow_writer" in result.output
    )
    result = cli("records", "migrate", CHANGEFLOW_RECORDS_ADMIN_URL=owner)  # again: at head already, changes nothing
    assert result.exit_code == 0 and f"revision {sql_migrate.head()} -> {sql_migrate.head()}" in result.output, (
        result.output
    )
    store = SqlRecordStore(app_url, writer=lambda: "executor")
    r = opened("CHG-0001")
    store.save(r)
    r.transition(State.ASSESSED, AT + timedelta(seconds=1), "risk medium")
    store.save(r)
    store.engine.dispose()
    return owner, app_url


def refused(url: str, statement: str) -> DBAPIError:
    engine = create_engine(url)
    try:
        with pytest.raises(DBAPIError) as caught, engine.begin() as connection:
            connection.execute(text(statement))
        return caught.value
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_the_application_role_saves_and_reads_and_owns_nothing(roles):
    _, app_url = roles
    sql_migrate._migrated.clear()  # a new process: opening finds the schema at head and creates nothing
    store = SqlRecordStore(app_url, writer=lambda: "executor")
    r = store.load("CHG-0001")
    r.transition(State.APPROVED, AT + timedelta(seconds=2), "approved")
    store.save(r)
    store.save(opened("CHG-0002"))
    history = store.history("CHG-0001")
    assert [v.version for v in history] == [1, 2, 3] and verify_chain(history) is None
    assert store.load("CHG-0001").state is State.APPROVED and store.count() == 2
    assert [x.id for x in store.page(RecordQuery()).records] == ["CHG-0001", "CHG-0002"]
    assert [f.id for f in store.facts_page(RecordQuery()).facts] == ["CHG-0001", "CHG-0002"]
    assert store.claim_proof("totp:carol:1", "CHG-0001") and not store.claim_proof("totp:carol:1", "CHG-0002")
    with store.engine.connect() as db:
        assert db.execute(text("SELECT current_user")).scalar() == APP
        assert db.execute(text("SELECT pg_has_role(current_user, 'changeflow_writer', 'MEMBER')")).scalar()
        owned = db.execute(
            text("SELECT count(*) FROM pg_class c WHERE pg_has_role(current_user, c.relowner, 'USAGE')")
        ).scalar()
        assert owned == 0  # neither it nor its group owns a table, an index or a sequence
        assert not db.execute(
            text(
                "SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
            )
        ).scalar()


@pytest.mark.postgres
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE change_record_versions SET content = '{}' WHERE change_id = 'CHG-0001'",
        "DELETE FROM change_record_versions WHERE change_id = 'CHG-0001'",
        "TRUNCATE change_record_versions",
        "ALTER TABLE change_record_versions DISABLE TRIGGER changeflow_versions_append_only",
        "ALTER TABLE change_record_versions DISABLE TRIGGER ALL",
        "DROP TRIGGER changeflow_versions_append_only ON change_record_versions",
        "DROP TABLE change_record_versions",
        "GRANT changeflow_writer TO postgres WITH ADMIN OPTION",
        "ALTER ROLE changeflow_app SUPERUSER",
        "ALTER ROLE changeflow_app CREATEROLE",
        "DELETE FROM used_proofs",
        "DELETE FROM change_records",
        "TRUNCATE change_records",
        "UPDATE changeflow_alembic_version SET version_num = '0001'",
        "SET ROLE postgres",
        "CREATE TABLE change_record_versions_copy (x int)",
    ],
    ids=lambda s: " ".join(s.split()[:3]),
)
def test_the_application_role_cannot_rewrite_delete_or_unprotect_history(roles, statement):
    owner, app_url = roles
    error = refused(app_url, statement)
    assert error.orig.sqlstate == "42501", error.orig  # insufficient_privilege: refused before any trigger runs
    with create_engine(owner).connect() as db:
        assert (
            db.execute(text("SELECT count(*) FROM change_record_versions WHERE change_id = 'CHG-0001'")).scalar() >= 2
        )
        assert (
            db.execute(
                text(
                    "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'change_record_versions'::regclass AND tgenabled = 'O' "
                    "AND tgname LIKE 'changeflow_versions_%'"
                )
            ).scalar()
            == 2
        )
        assert not db.execute(
            text(f"SELECT has_table_privilege('{APP}', 'change_record_versions', 'UPDATE, DELETE, TRUNCATE')")
        ).scalar()


@pytest.mark.postgres
@pytest.mark.parametrize("grantee", [APP, "changeflow_writer", "PUBLIC"])
def test_the_application_role_cannot_grant_itself_more(roles, grantee):
    """PostgreSQL answers a GRANT by a role holding no grant option with a WARNING, not an error, and
    grants nothing (an error only comes when the role holds no privilege at all on the table)."""
    owner, app_url = roles
    engine, notices = create_engine(app_url), []
    try:
        with engine.begin() as connection:
            connection.connection.driver_connection.add_notice_handler(lambda n: notices.append(n.message_primary))
            option = " WITH GRANT OPTION" if grantee != "PUBLIC" else ""
            connection.execute(text(f"GRANT UPDATE, DELETE, TRUNCATE ON change_record_versions TO {grantee}{option}"))
    finally:
        engine.dispose()
    assert notices == ['no privileges were granted for "change_record_versions"']
    with create_engine(owner).connect() as db:
        for role in (APP, "changeflow_writer", "public"):
            assert not db.execute(
                text(f"SELECT has_table_privilege('{role}', 'change_record_versions', 'UPDATE, DELETE, TRUNCATE')")
            ).scalar()


@pytest.mark.postgres
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE change_record_versions SET content = '{}' WHERE change_id = 'CHG-0001'",
        "DELETE FROM change_record_versions WHERE change_id = 'CHG-0001'",
        "TRUNCATE change_record_versions",
    ],
    ids=["update", "delete", "truncate"],
)
def test_the_schema_owner_is_still_refused_by_the_triggers(roles, statement):
    owner, _ = roles
    error = refused(owner, statement)
    assert "change_record_versions is append-only" in str(error.orig) and statement.split()[0] in str(error.orig)


@pytest.mark.postgres
def test_a_writer_on_a_schema_not_at_head_fails_in_one_line_naming_the_fix(postgres):
    from alembic import command

    database = fresh_database(postgres)
    app_url = postgres.app_url(database, APP)
    with pytest.raises(
        RecordStoreError,
        match=r"without a changeflow schema .*may not migrate it \(permission denied .*"
        r"fix: the schema owner runs `changeflow records migrate --url OWNER_URL`",
    ):
        SqlRecordStore(app_url)  # an empty database: it may create nothing
    engine = create_engine(postgres.url(database))  # the owner, one release behind
    with engine.begin() as connection:
        config = sql_migrate._config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
    engine.dispose()
    with pytest.raises(RecordStoreError) as caught:
        SqlRecordStore(app_url)
    assert "\n" not in str(caught.value) and "changeflow records migrate --url OWNER_URL" in str(caught.value)
    result = cli("records", "migrate", "--url", app_url)  # the application's own role cannot do it either
    assert (
        result.exit_code == 1
        and "could not be migrated (permission denied" in result.stderr
        and "Traceback" not in result.output
    )
    result = cli("records", "migrate", "--url", postgres.url(database))
    assert result.exit_code == 0 and f"revision 0004 -> {sql_migrate.head()}" in result.output, result.output
    SqlRecordStore(app_url).save(opened("CHG-0001"))  # now at head: the writer opens and appends


def test_records_migrate_on_sqlite_and_its_bad_input(tmp_path):
    url = f"sqlite:///{tmp_path / 'records.db'}"
    result = cli("records", "migrate", CHANGEFLOW_RECORDS_ADMIN_URL=url)
    assert result.exit_code == 0 and f"revision (none) -> {sql_migrate.head()}" in result.output, result.output
    for args, named in (
        (["--url", "mysql://root:hunter2@db/x"], "--url (CHANGEFLOW_RECORDS_ADMIN_URL): url: is a mysql: URL"),
        (["--url", "sqlite:///"], "--url (CHANGEFLOW_RECORDS_ADMIN_URL): url: is a sqlite: URL"),
        (["--url", url, "--member", "app; DROP TABLE x"], "--member: role: "),
    ):
        result = cli("records", "migrate", *args)
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and named in lines[0] and "hunter2" not in result.stderr, (
            result.stderr
        )
    result = cli("records", "migrate", "--url", url, "--member", APP)
    assert result.exit_code == 1 and "SQLite has no roles" in result.stderr

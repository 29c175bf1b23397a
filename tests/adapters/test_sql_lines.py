"""``changeflow list``'s reader over the database's own driver answers exactly as the record store does, on
SQLite and PostgreSQL, and leaves to the store what it does not handle."""

from __future__ import annotations

from datetime import timedelta

from changeflow.adapters import sql_lines, sql_migrate
from changeflow.adapters.sql_lines import RecordLines
from changeflow.adapters.sql_records import SqlRecordStore
from changeflow.domain.history import RecordQuery
from changeflow.domain.record import GOVERNED_TYPES, State, Transition, Unrequested
from changeflow.domain.request import ChangeType
from tests.adapters.test_sql_records import AT, opened


def test_the_drivers_own_pages_are_the_stores_pages(records_url):
    store = SqlRecordStore(records_url)
    for i in range(60):  # saved in an order unlike their IDs' or their openings'
        record = opened(f"CHG-{(i * 7) % 60:04d}", model=f"model-{i % 3}", at=AT + timedelta(minutes=(i * 7) % 60))
        if i % 4 == 0:
            record.transitions.append(Transition(from_state=State.REQUESTED, to_state=State.REJECTED, at=AT))
            record.state = State.REJECTED
        store.save(record)
    store.save(opened("DRIFT-0001", change_type=Unrequested.UNAUTHORIZED))
    lines = RecordLines(records_url)
    for query, offset in (
        (RecordQuery(limit=50), 0),
        (RecordQuery(limit=50), 50),
        (RecordQuery(types=GOVERNED_TYPES, limit=7), 3),
        (RecordQuery(types=frozenset(Unrequested), limit=10), 0),
        (RecordQuery(model="model-1", states=frozenset({State.REJECTED}), limit=5), 0),
        (RecordQuery(states=frozenset(), limit=5), 0),
    ):
        assert lines.newest(query, offset) == store.newest(query, offset), (query, offset)
    assert lines.newest(RecordQuery(limit=50)).total == 61


def test_what_it_does_not_handle_is_left_to_the_store(tmp_path):
    missing = f"sqlite:///{tmp_path / 'none.db'}"
    assert RecordLines(missing).newest(RecordQuery()) is None  # no database yet: the store creates it
    assert not (tmp_path / "none.db").exists()
    url = f"sqlite:///{tmp_path / 'r.db'}"
    SqlRecordStore(url).save(opened("CHG-0001", change_type=ChangeType.STANDARD))
    assert RecordLines(url).newest(RecordQuery(opened_from=AT)) is None  # a filter a list does not use
    assert RecordLines(url + "?timeout=5").newest(RecordQuery()) is None  # URL options
    assert RecordLines("mysql://h/db").newest(RecordQuery()) is None
    engine = sql_migrate.engine_for(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"UPDATE {sql_migrate.VERSION_TABLE} SET version_num = '0004'")
    assert RecordLines(url).newest(RecordQuery()) is None  # not at the newest revision: the store migrates


def test_its_schema_names_are_the_stores():
    from changeflow.adapters import sql_schema

    assert sql_lines.HEAD == sql_migrate.HEAD == sql_migrate.head()
    assert (sql_schema.current.name, sql_migrate.VERSION_TABLE) == (sql_lines.TABLE, sql_lines.VERSION_TABLE)

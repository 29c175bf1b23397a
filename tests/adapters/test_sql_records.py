"""The SQL record store, on SQLite and on a real PostgreSQL: versions appended and chained, indexed
queries paged with no silent limit, concurrent writers, the schema migrated once, rewrites detected."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from changeflow.adapters.sql_records import SqlRecordStore
from changeflow.domain.history import RecordQuery, verify_chain
from changeflow.domain.record import ChangeRecord, State, Transition
from changeflow.domain.request import ChangeType, Risk
from changeflow.exceptions import RecordNotFound, RecordStoreError
from changeflow.services.records import every
from tests.database_admin import drop_append_only

AT = datetime(2026, 11, 25, 22, 0, tzinfo=timezone.utc)


def opened(
    change_id: str, model: str = "m", at: datetime = AT, change_type: ChangeType = ChangeType.NORMAL
) -> ChangeRecord:
    r = ChangeRecord(
        id=change_id,
        description="d",
        type=change_type,
        kind="model_deployment",
        model=model,
        requester="alice",
        risk=Risk.MEDIUM,
    )
    r.transitions.append(Transition(from_state=None, to_state=State.REQUESTED, at=at, reason="requested"))
    return r


def test_each_save_appends_a_chained_version_and_the_latest_is_current(records_url):
    store = SqlRecordStore(records_url, writer=lambda: "flow run x on host pid 1")
    r = opened("CHG-0001")
    first = store.save(r)
    r.transition(State.ASSESSED, AT + timedelta(seconds=1), "risk medium")
    second = store.save(r)
    assert (first.version, second.version, second.previous_sha256, second.transitions_before) == (1, 2, first.sha256, 1)
    assert store.load("CHG-0001").state is State.ASSESSED
    history = store.history("CHG-0001")
    assert [v.state for v in history] == [State.REQUESTED, State.ASSESSED] and history[
        0
    ].writer == "flow run x on host pid 1"
    assert verify_chain(history) is None
    with pytest.raises(RecordNotFound):
        store.load("CHG-9999")


def test_a_version_rewritten_in_the_database_is_detected(records_url):
    store = SqlRecordStore(records_url)
    r = opened("CHG-0002")
    store.save(r)
    r.transition(State.ASSESSED, AT, "risk low")
    store.save(r)
    forged = store.history("CHG-0002")[0].content.replace('"requester":"alice"', '"requester":"mallory"')
    rewrite = text("UPDATE change_record_versions SET content = :c WHERE change_id = 'CHG-0002' AND version = 1")
    for statement, values in (
        (rewrite, {"c": forged}),
        (text("DELETE FROM change_record_versions WHERE change_id = 'CHG-0002'"), {}),
    ):
        with pytest.raises(Exception, match="append-only"):  # the application's own role cannot rewrite history
            with store.engine.begin() as connection:
                connection.execute(statement, values)
    drop_append_only(store.engine)  # a database administrator can
    with store.engine.begin() as connection:
        connection.execute(rewrite, {"c": forged})
    broken = verify_chain(store.history("CHG-0002"))
    assert broken is not None and broken.version == 1 and "rewritten" in broken.reason


def test_queries_use_the_columns_and_pages_reach_every_record(records_url):
    store = SqlRecordStore(records_url)
    for i in range(263):
        r = opened(
            f"CHG-{i:04d}",
            model=f"model-{i % 3}",
            at=AT + timedelta(minutes=i),
            change_type=ChangeType.STANDARD if i % 2 else ChangeType.NORMAL,
        )
        if i % 5 == 0:
            r.transition(State.ASSESSED, AT, "")
            r.slot_start, r.slot_end = AT + timedelta(hours=i), AT + timedelta(hours=i, minutes=30)
        store.save(r)
    assert len(list(every(store, RecordQuery(limit=50)))) == 263  # 6 pages; no list is cut at any size
    page = store.page(RecordQuery(limit=100))
    assert len(page.records) == 100 and page.next_after == page.records[-1].id
    assert len(list(every(store, RecordQuery(model="model-1")))) == 88
    assert len(list(every(store, RecordQuery(states=frozenset({State.ASSESSED}))))) == 53
    assert len(list(every(store, RecordQuery(types=frozenset({ChangeType.STANDARD}))))) == 131
    assert (
        len(
            list(
                every(
                    store, RecordQuery(opened_from=AT + timedelta(minutes=10), opened_until=AT + timedelta(minutes=20))
                )
            )
        )
        == 10
    )
    assert [
        r.id for r in every(store, RecordQuery(slot_from=AT + timedelta(hours=10), slot_until=AT + timedelta(hours=20)))
    ] == ["CHG-0010", "CHG-0015"]
    assert len(list(every(store, RecordQuery(updated_since=datetime.now(timezone.utc) - timedelta(minutes=5))))) == 263


def test_the_newest_page_reads_only_its_records_newest_first_with_the_count_of_all(records_url):
    store = SqlRecordStore(records_url)
    for i in range(120):  # saved in an order unlike their IDs' or their openings'
        store.save(opened(f"CHG-{(i * 7) % 120:04d}", model=f"model-{i % 2}", at=AT + timedelta(minutes=(i * 7) % 120)))
    first = store.newest(RecordQuery(limit=50))
    assert first.total == 120 and [r.id for r in first.records] == [f"CHG-{i:04d}" for i in range(119, 69, -1)]
    last = store.newest(RecordQuery(limit=50), offset=100)
    assert [r.id for r in last.records] == [f"CHG-{i:04d}" for i in range(19, -1, -1)]
    one_model = store.newest(RecordQuery(model="model-1", limit=5))
    assert one_model.total == 60 and all(r.model == "model-1" for r in one_model.records)


def test_concurrent_writers_of_one_record_get_distinct_versions(records_url):
    store = SqlRecordStore(records_url)
    r = opened("CHG-0003")
    store.save(r)
    errors = []

    def write(n):
        try:
            for _ in range(5):
                SqlRecordStore(records_url, writer=lambda: f"writer {n}").save(r)
        except Exception as exc:  # collected: the assertion below names it
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors
    history = store.history("CHG-0003")
    assert [v.version for v in history] == list(range(1, 22)) and verify_chain(history) is None


def test_the_schema_is_migrated_once_and_reopening_keeps_records(records_url):
    SqlRecordStore(records_url).save(opened("CHG-0004"))
    from changeflow.adapters import sql_records

    sql_records._migrated.clear()  # a new process: the migration runs again and finds the schema current
    again = SqlRecordStore(records_url)
    assert again.load("CHG-0004").id == "CHG-0004"
    with again.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM changeflow_alembic_version")).scalar() == "0005"


def test_an_unreachable_database_is_one_clear_error():
    with pytest.raises(RecordStoreError, match="cannot be opened.*fix: check records.url"):
        SqlRecordStore("postgresql+psycopg://nobody@127.0.0.1:1/none")


def test_the_report_reads_facts_kept_beside_each_record(records_url):
    from changeflow.domain.dora import change_facts
    from changeflow.services.records import every_fact

    store = SqlRecordStore(records_url)
    for i in range(7):
        r = opened(f"CHG-{i:04d}")
        r.transition(State.ASSESSED, AT, "")
        store.save(r)
    with store.engine.begin() as connection:  # a row saved before revision 0002 has none: computed on read
        connection.execute(text("UPDATE change_records SET facts = NULL WHERE id = 'CHG-0003'"))
    facts = list(every_fact(store, RecordQuery(limit=3)))
    assert [f.id for f in facts] == [f"CHG-{i:04d}" for i in range(7)]
    assert facts == [change_facts(store.load(f.id)) for f in facts]


def test_a_proof_is_claimed_once_across_store_instances(records_url):
    first, second = SqlRecordStore(records_url), SqlRecordStore(records_url)
    assert first.claim_proof("totp:carol:1234", "CHG-1")
    assert not second.claim_proof("totp:carol:1234", "CHG-2")  # the same code on another change: a replay
    assert second.claim_proof("totp:carol:1235", "CHG-2")


def test_the_fast_head_check_names_alembics_newest_revision(tmp_path):
    """``sql_migrate.HEAD`` lets a store at head open without importing alembic; a new migration must move it."""
    from changeflow.adapters import sql_migrate

    assert sql_migrate.head() == sql_migrate.HEAD
    engine = sql_migrate.engine_for(f"sqlite:///{tmp_path / 'r.db'}")
    assert not sql_migrate._at_head(engine)  # no schema yet: the full path migrates
    sql_migrate.migrate(engine)
    assert sql_migrate._at_head(engine)

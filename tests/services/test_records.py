"""Readers page through the store to the end; a new request sees its model's open and failed changes;
a publisher that is down does not lose a record."""

from datetime import datetime, timedelta, timezone

from changeflow.adapters.published_records import PublishedRecords
from changeflow.domain.history import RecordQuery
from changeflow.domain.record import ChangeRecord, State
from changeflow.domain.request import Risk
from changeflow.services.records import every, related_changes
from changeflow.settings.loader import load_change_request
from tests.conftest import EXAMPLES
from tests.fakes import FakeRecordStore

NOW = datetime.now(timezone.utc)


def request(change_id="CHG-0100"):
    return load_change_request(EXAMPLES / "changes" / "normal-deploy-v2.yaml").model_copy(update={"id": change_id})


def test_every_follows_the_cursor_past_any_page_size():
    store = FakeRecordStore(page_size=7)
    for i in range(50):
        store.save(ChangeRecord.open(request(f"CHG-{i:04d}"), Risk.LOW, NOW))
    assert [r.id for r in every(store, RecordQuery())] == [f"CHG-{i:04d}" for i in range(50)]
    assert store.pages_read == 8


def test_related_changes_are_the_models_open_and_recently_failed_ones():
    store = FakeRecordStore(page_size=3)
    mine = request()
    for i, state in enumerate([State.ASSESSED, State.ROLLED_BACK, State.CLOSED, State.ABORTED]):
        record = ChangeRecord.open(request(f"CHG-{i:04d}"), Risk.LOW, NOW - timedelta(hours=1))
        if state is not State.ASSESSED:
            record.state = state
        record.transition(State.ASSESSED, NOW, "") if state is State.ASSESSED else None
        store.save(record)
    other = ChangeRecord.open(request("CHG-0009").model_copy(update={"model": "digits"}), Risk.LOW, NOW)
    store.save(other)
    store.save(ChangeRecord.open(mine, Risk.LOW, NOW))
    assert [r.id for r in related_changes(store, mine, NOW)] == ["CHG-0000", "CHG-0001", "CHG-0003"]


class DownPublisher:
    def publish(self, record, version):
        raise ConnectionError("Prefect is down")


def test_a_publisher_that_is_down_loses_no_record():
    store = PublishedRecords(FakeRecordStore(), DownPublisher())
    version = store.save(ChangeRecord.open(request(), Risk.LOW, NOW))
    assert version.version == 1 and store.load("CHG-0100").id == "CHG-0100" and len(store.history("CHG-0100")) == 1

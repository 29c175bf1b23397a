"""The auditor's walk: an intact history verifies; a version or the current record rewritten in the
database is named; the export holds every version and the heads."""

import io
import json
from datetime import datetime, timezone

from sqlalchemy import text

from changeflow.adapters.sql_records import SqlRecordStore
from changeflow.domain.record import ChangeRecord, State
from changeflow.domain.request import Risk
from changeflow.services.audit import audit, export
from changeflow.settings.loader import load_change_request
from tests.conftest import EXAMPLES

NOW = datetime.now(timezone.utc)


def filled(url: str) -> SqlRecordStore:
    store = SqlRecordStore(url)
    base = load_change_request(EXAMPLES / "changes" / "normal-deploy-v2.yaml")
    for i in range(3):
        record = ChangeRecord.open(base.model_copy(update={"id": f"CHG-{i:04d}"}), Risk.MEDIUM, NOW)
        store.save(record)
        record.transition(State.ASSESSED, NOW, "risk medium")
        store.save(record)
    return store


def test_an_untouched_history_is_intact_and_exported_whole(tmp_path):
    store = filled(f"sqlite:///{tmp_path / 'r.db'}")
    report = audit(store)
    assert (report.records, report.versions, report.breaks) == (3, 6, [])
    bundle = io.StringIO()
    assert export(store, bundle) == 7
    lines = [json.loads(line) for line in bundle.getvalue().splitlines()]
    assert [line["version"] for line in lines[:-1]] == [1, 2] * 3
    assert lines[-1]["heads"]["CHG-0001"] == {"version": 2, "sha256": store.history("CHG-0001")[-1].sha256}


def test_a_rewritten_version_and_a_rewritten_current_record_are_named(tmp_path):
    store = filled(f"sqlite:///{tmp_path / 'r.db'}")
    with store.engine.begin() as db:
        db.execute(text("UPDATE change_record_versions SET writer = 'carol' WHERE change_id = 'CHG-0001' AND version = 2"))
        forged = store.load("CHG-0002").model_copy(update={"outcome": "closed by nobody"}).model_dump_json()
        db.execute(text("UPDATE change_records SET content = :c WHERE id = 'CHG-0002'"), {"c": forged})
    report = audit(store)
    assert [(b.change_id, b.version) for b in report.breaks] == [("CHG-0001", 2), ("CHG-0002", 2)]
    assert "rewritten" in report.breaks[0].reason and "in place" in report.breaks[1].reason

"""Forged state never drives the maintenance-window flow: a record that reached 'scheduled' without the
approval gate, and one rewritten in the database, are refused; production is queried from Triton afterwards.

In process, with a calendar whose window is open now: the worker of tests/e2e judges by the sealed example
calendar, whose windows are past, and its maintenance-window flow reads the real clock. The rollback and
safety-net deployments against forged, unsigned, rewritten and truncated records are tested through that
worker in tests/e2e/test_insider_attacks.py."""

from datetime import datetime, timedelta, timezone

import pytest
from changeflow.flows.maintenance_window import maintenance_window
from sqlalchemy import text

from changeflow import State
from changeflow.bootstrap import record_store
from changeflow.domain.record import ChangeRecord
from changeflow.domain.request import Risk
from changeflow.domain.windows import Calendar
from changeflow.services.recorder import Recorder, utc_now
from changeflow.settings.loader import load_change_request, load_governance
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.triton


def governance_with_open_window():
    now = datetime.now(timezone.utc)
    calendar = Calendar.model_validate(
        {
            "timezone": "UTC",
            "announcement_lead_hours": 0,
            "maintenance": [
                {
                    "name": "now",
                    "start": (now - timedelta(minutes=5)).isoformat(),
                    "end": (now + timedelta(hours=1)).isoformat(),
                }
            ],
        }
    )
    return load_governance(EXAMPLES).model_copy(update={"calendar": calendar}), calendar.maintenance[0]


def written_by_hand(store, change_id: str, to: State, **fields) -> Recorder:
    """A record put in ``to`` with the store's own API, as someone with its credentials could: no gate passed."""
    request = load_change_request(EXAMPLES / "changes" / "normal-deploy-v2.yaml").model_copy(update={"id": change_id})
    recorder = Recorder(ChangeRecord.open(request, Risk.MEDIUM, utc_now()), store)
    for state in (State.ASSESSED, State.APPROVED, State.SCHEDULED, State.EXECUTING, State.VERIFYING):
        recorder.transition(state, "written by hand")
        if state is to:
            break
    recorder.note(**fields)
    return recorder


def rewrite(store, change_id: str, old: str, new: str) -> None:
    """What anyone with write access to the database could do: edit the current row in place."""
    with store.engine.begin() as connection:
        content = connection.execute(
            text("SELECT content FROM change_records WHERE id = :i"), {"i": change_id}
        ).scalar_one()
        assert old in content
        connection.execute(
            text("UPDATE change_records SET content = :c WHERE id = :i"),
            {"c": content.replace(old, new), "i": change_id},
        )


def test_a_scheduled_record_without_the_gate_is_refused_by_the_maintenance_window(environment, production):
    governance, window = governance_with_open_window()
    store = record_store(environment.records)
    written_by_hand(store, "CHG-0091", State.SCHEDULED, slot_start=window.start, slot_end=window.end)
    result = maintenance_window("now", environment, governance)
    assert [(r.change_id, r.state) for r in result.results] == [("CHG-0091", State.ABORTED)]
    record = store.load("CHG-0091")
    assert record.transitions[-1].reason.startswith(
        "refused before executing: 0 valid approval(s) of 2 required on the record: the plan digest"
    )
    assert record.execution_steps == [] and production.ready_versions("classifier") == [1]


def test_a_record_rewritten_in_the_database_is_refused_by_the_maintenance_window(environment, production):
    governance, window = governance_with_open_window()
    store = record_store(environment.records)
    written_by_hand(store, "CHG-0092", State.SCHEDULED, slot_start=window.start, slot_end=window.end)
    rewrite(store, "CHG-0092", '"to_version":2', '"to_version":3')
    result = maintenance_window("now", environment, governance)
    assert result.results == [] and "CHG-0092" in result.refused and "rewritten in place" in result.refused["CHG-0092"]
    assert store.load("CHG-0092").execution_steps == [] and production.ready_versions("classifier") == [1]

"""A change needing a maintenance window is approved, handed off as scheduled, and run by the
maintenance-window flow when the window opens. The governed sequence that approves and hands it off runs
as the governed flows run it (``executor_run``: the Prefect tasks, the real clock, the executor's services)
with approvals from a script, each signed with the approver's enrolled key."""

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
from changeflow.flows.governed import govern
from changeflow.flows.lifecycle import executor_run
from changeflow.flows.maintenance_window import maintenance_runs, maintenance_window
from prefect import flow

from changeflow import State
from changeflow.bootstrap import bootstrap, record_store
from changeflow.domain.record import ChangeResult
from changeflow.domain.request import ChangeRequest
from changeflow.domain.windows import Calendar
from changeflow.services.recorder import utc_now
from changeflow.settings.loader import load_governance
from tests.conftest import EXAMPLES
from tests.flows.helpers import change
from tests.governed.conftest import ScriptedDecisions

pytestmark = pytest.mark.triton


def test_maintenance_runs_are_the_upcoming_window_starts():
    cal = Calendar.model_validate(
        {
            "maintenance": [
                {"name": "past", "start": "2026-11-01T01:00:00+00:00", "end": "2026-11-01T02:00:00+00:00"},
                {"name": "b", "start": "2026-12-05T01:00:00+00:00", "end": "2026-12-05T02:00:00+00:00"},
                {"name": "a", "start": "2026-11-28T01:00:00+00:00", "end": "2026-11-28T02:00:00+00:00"},
            ]
        }
    )
    now = datetime(2026, 11, 25, tzinfo=timezone.utc)
    assert [name for name, _ in maintenance_runs(cal, now)] == ["a", "b"]


def test_a_change_scheduled_into_a_window_runs_when_it_opens(environment):
    now = datetime.now(timezone.utc)
    calendar = {
        "timezone": "UTC",
        "business_hours": {
            "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "start": "00:00",
            "end": "23:59",
        },  # no off-hours slot
        "announcement_lead_hours": 0,
        "maintenance": [
            {
                "name": "tonight",
                "start": (now + timedelta(seconds=20)).isoformat(),
                "end": (now + timedelta(hours=2)).isoformat(),
            }
        ],
    }
    governance = load_governance(EXAMPLES, approval_timeout_s=60, approval_poll_s=1).model_copy(
        update={"calendar": Calendar.model_validate(calendar)}
    )
    request = change(
        "normal-self-approval.yaml",
        id="CHG-0041",
        model="feature_scaler",
        change={"set": {"dynamic_batching.max_queue_delay_microseconds": 250}},
    )
    # the executor's services with scripted approvers (bootstrap's object is shared by the process: a copy)
    services = dataclasses.replace(
        bootstrap(environment), decisions=ScriptedDecisions([("carol", True), ("dave", True)], request.id)
    )

    @flow(name="hand-off")
    def hand_off(
        request: ChangeRequest,
    ) -> ChangeResult:  # the sequence inside a flow run, as the normal-change flow runs it
        return govern(
            request, executor_run(services, governance, utc_now(), None)
        )  # the real clock: a future window is handed off

    handed_off = hand_off(request)
    assert handed_off.state is State.SCHEDULED, handed_off.outcome
    record = record_store(environment.records).load("CHG-0041")
    assert "the maintenance-window flow runs it when the window opens" in record.transitions[-1].reason
    assert record.execution_steps == []

    result = maintenance_window("tonight", environment, governance)
    assert [r.change_id for r in result.results] == ["CHG-0041"] and result.results[0].state is State.CLOSED
    assert record_store(environment.records).load("CHG-0041").state is State.CLOSED

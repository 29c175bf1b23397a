"""Approvers are told through Apprise (``PrefectApproverNotices``, the notices the approval gate is given
in production) when a change waits for them and again when it is overdue, with a link to the paused run;
an overdue decision also emits ``changeflow.approval.overdue`` for automations. A receiver on loopback
stands in for the chat or mail service. Which URLs the gate tells, and when: tests/governed/test_sequence.py."""

from __future__ import annotations

import pytest
from prefect import flow
from prefect.runtime import flow_run

from changeflow.adapters.notifications import PrefectApproverNotices
from changeflow.kinds import plan_for
from changeflow.local.event_sink import EventSink
from changeflow.services.approval_text import approval_request_text
from changeflow.settings.loader import load_change_request
from tests.conftest import EXAMPLES
from tests.flows.test_records_and_events import read_change_events

pytestmark = pytest.mark.usefixtures("prefect_server")
WAITING, OVERDUE = "Change CHG-0088 waits for your approval", "Overdue: change CHG-0088 still waits for approval"


def test_waiting_and_overdue_changes_are_announced_to_approvers():
    notices = PrefectApproverNotices()
    request = load_change_request(EXAMPLES / "changes" / "normal-deploy-v2.yaml").model_copy(update={"id": "CHG-0088"})

    @flow(name="waiting-for-approval")
    def waiting() -> tuple[str, str]:  # the link is the page of the run that waits
        return notices.link(), str(flow_run.id)

    link, run_id = waiting()
    assert link.endswith(f"/runs/flow-run/{run_id}"), link
    assert notices.link() == "the change's flow run"  # outside a run: no page to point at
    told = approval_request_text(request, plan_for(request), "0" * 64, link)
    with EventSink() as sink:
        urls = [sink.url.replace("http://", "json://"), "nonsense-url"]
        delivered = notices.tell(urls, WAITING, told)
        payload = {"approvals_required": 2, "pool": "change_advisory_board"}
        overdue = notices.overdue(request.id, 1, payload, also=lambda: notices.tell(urls, OVERDUE, told))
        overdue.join(30)
    assert delivered is False  # the nonsense URL was skipped (logged): not every URL took it; the receiver did
    titles = [event["title"] for event in sink.events]
    assert titles == [WAITING, OVERDUE], titles
    body = sink.events[0]["message"]
    assert "requested by alice" in body and "/runs/flow-run/" in body and "changeflow approve CHG-0088" in body
    assert read_change_events("CHG-0088", 1, prefix="changeflow.approval.") == ["changeflow.approval.overdue"]
    event = read_change_events("CHG-0088", 1, prefix="changeflow.approval.", whole=True)[0]
    assert event.payload == payload

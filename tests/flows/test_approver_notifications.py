"""Approvers are told through Apprise when a change waits for them and again when it is overdue, with
a link to the paused run; a receiver on loopback stands in for the chat or mail service."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from changeflow import State
from changeflow.flows.lifecycle import normal_change
from changeflow.local.event_sink import EventSink
from changeflow.settings.loader import load_change_request, load_governance
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.triton
NIGHT = datetime(2026, 11, 25, 22, 0, tzinfo=timezone(timedelta(hours=1)))


def test_waiting_and_overdue_changes_are_announced_to_approvers(environment):
    request = load_change_request(EXAMPLES / "changes" / "normal-deploy-v2.yaml").model_copy(update={"id": "CHG-0088"})
    with EventSink() as sink:
        url = sink.url.replace("http://", "json://")
        governance = load_governance(EXAMPLES, approval_timeout_s=8, approval_overdue_s=3, approval_poll_s=1, notify_approvers=[url, "nonsense-url"])
        result = normal_change(request, environment, governance, NIGHT)
    assert result.state is State.EXPIRED  # nobody answered: nothing touched
    titles = [event["title"] for event in sink.events]
    assert titles == ["Change CHG-0088 waits for your approval", "Overdue: change CHG-0088 still waits for approval"], titles
    body = sink.events[0]["message"]
    assert "requested by alice" in body and "/runs/flow-run/" in body and "changeflow approve CHG-0088" in body

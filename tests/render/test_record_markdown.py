"""The record's page in the Prefect UI: what happened in plain words before any statistic, decisions as a
table, times in the calendar's zone with its name. Pure, no server."""

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from changeflow.domain.record import Approval, ChangeRecord, State
from changeflow.domain.request import Risk
from changeflow.render.record_markdown import record_markdown
from changeflow.settings.loader import load_change_request
from tests.conftest import EXAMPLES

AT = datetime(2026, 11, 25, 21, 0, tzinfo=timezone.utc)
BERLIN = ZoneInfo("Europe/Berlin")
STATS = "bake FAIL: v5 slower than v2: p50 2.8 ms vs 1.6 ms (+78%), U-test p=6.5e-08"


def walked(*path: tuple[State, str], outcome: str = "", **update) -> ChangeRecord:
    record = ChangeRecord.open(load_change_request(EXAMPLES / "changes" / "normal-deploy-v2.yaml"), Risk.MEDIUM, AT)
    record = record.model_copy(update={"serving_version_before": 1, **update})
    for state, reason in path:
        record.transition(state, AT, reason)
    if outcome:
        record.outcome = outcome  # as the kind writes it: its statistics
    return record


APPROVED = [(State.ASSESSED, "medium"), (State.APPROVED, "carol, dave"), (State.SCHEDULED, "now")]


def test_a_rolled_back_change_says_so_in_words_before_the_statistics():
    record = walked(
        *APPROVED,
        (State.EXECUTING, ""),
        (State.VERIFYING, ""),
        (State.ROLLED_BACK, "the bake failed; version 1 restored"),
        outcome=STATS,
    )
    page = record_markdown(record, "{}", BERLIN)
    assert page.index("**Rolled back: production is back to what it served before (version 1).**") < page.index(
        "U-test"
    )
    assert "Done" not in page


def test_a_closed_change_names_what_production_serves_and_a_rejection_that_nothing_changed():
    closed = walked(*APPROVED, (State.EXECUTING, ""), (State.VERIFYING, ""), serving_version_after=2)
    closed.transition(State.CLOSED, AT, "serving v2")
    assert "**Done: `classifier` serves version 2 (was 1).**" in record_markdown(closed, "{}")
    rejected = walked((State.ASSESSED, "medium"), (State.REJECTED, "rejected by dave: nothing was touched"))
    assert "**Rejected; nothing was changed.** rejected by dave" in record_markdown(rejected, "{}")


def test_decisions_are_a_table_with_refusals_and_times_carry_the_calendar_zone():
    decisions = [
        Approval(approver="dave", decision="approve", at=AT, counted=False, refusal="not dave's current code"),
        Approval(approver="carol", decision="approve", at=AT, proof="totp", comment="looks fine"),
    ]
    page = record_markdown(walked((State.ASSESSED, "medium"), approvals=decisions), "{}", BERLIN)
    assert "| who | decision | when | counted | proof | comment |" in page
    assert "| dave | approve | 2026-11-25 22:00:00 CET | **no**: not dave's current code | — |  |" in page
    assert "| carol | approve | 2026-11-25 22:00:00 CET | yes | totp | looks fine |" in page
    assert "- 2026-11-25 22:00:00 CET **assessed**: medium" in page
    assert "2026-11-25 21:00:00 UTC" in record_markdown(walked((State.ASSESSED, "medium")), "{}")  # no zone: UTC

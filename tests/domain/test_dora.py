"""DORA keys from a set of records whose answer is known."""

from datetime import datetime, timezone
from pathlib import Path

from changeflow import Risk, State
from changeflow.domain.dora import dora_report
from changeflow.domain.record import ChangeRecord, Phase, StepOutcome
from changeflow.render.html import report_html
from changeflow.settings.loader import load_change_request

CHANGES = Path(__file__).resolve().parents[2] / "examples" / "changes"
BASE = load_change_request(CHANGES / "normal-deploy-v2.yaml")


def t(day, hour, minute=0, second=0):
    return datetime(2026, 11, day, hour, minute, second, tzinfo=timezone.utc)


def record(change_id, requested, path):
    """A record walked through ``path`` [(state, at)] from its request time."""
    r = ChangeRecord.open(BASE.model_copy(update={"id": change_id}), Risk.MEDIUM, requested)
    for state, at in path:
        r.transition(state, at)
    return r


def through(day, execute_hour):
    return [
        (State.ASSESSED, t(day, execute_hour - 2)),
        (State.APPROVED, t(day, execute_hour - 1)),
        (State.SCHEDULED, t(day, execute_hour - 1, 30)),
        (State.EXECUTING, t(day, execute_hour)),
    ]


def known_records():
    a = record(
        "CHG-0001", t(2, 10), through(2, 22) + [(State.VERIFYING, t(2, 22, 30)), (State.CLOSED, t(2, 23))]
    )  # lead 13 h
    b = record(
        "CHG-0002", t(3, 9), through(3, 22) + [(State.VERIFYING, t(3, 23)), (State.CLOSED, t(4, 9))]
    )  # lead 24 h
    c = record("CHG-0003", t(5, 10), through(5, 22) + [(State.VERIFYING, t(5, 22, 5))])
    c.production_touched = True
    c.start_step(Phase.VERIFICATION, "monitor", t(5, 22, 6))
    c.finish_step(Phase.VERIFICATION, "monitor", t(5, 22, 10), StepOutcome.FAILED, "FAIL")  # failure detected 22:10
    c.start_step(Phase.ROLLBACK, "restore_version", t(5, 22, 10, 30))
    c.finish_step(Phase.ROLLBACK, "restore_version", t(5, 22, 11), StepOutcome.OK)
    c.transition(State.ROLLED_BACK, t(5, 22, 12))  # restored and verified: 2 minutes after detection
    d = record("CHG-0004", t(6, 10), through(6, 22) + [(State.ABORTED, t(6, 22, 5))])  # executed, production untouched
    e = record("CHG-0005", t(7, 10), [(State.ASSESSED, t(7, 11)), (State.REJECTED, t(7, 12))])  # never executed
    f = record("CHG-0006", datetime(2026, 10, 20, 10, tzinfo=timezone.utc), [])  # outside the period
    return [a, b, c, d, e, f]


def test_dora_keys_match_the_known_answer():
    report = dora_report(known_records(), t(1, 0), t(11, 0))
    assert (report.changes, report.executed, report.deployments, report.failed) == (5, 4, 2, 1)
    assert report.deployment_frequency_per_day == 0.2
    assert report.lead_time_hours_median == 18.5 and report.lead_time_hours_mean == 18.5
    assert report.change_fail_rate == 0.25
    assert report.recovery_minutes_median == 2.0
    assert report.states == {"aborted": 1, "closed": 2, "rejected": 1, "rolled_back": 1}
    assert report.per_day["2026-11-05"] == {"rolled_back": 1}


def test_empty_period_has_no_rates():
    report = dora_report(known_records(), t(20, 0), t(21, 0))
    assert report.changes == 0 and report.change_fail_rate is None and report.lead_time_hours_median is None


def test_html_report_has_the_numbers_and_a_chart():
    page = report_html(dora_report(known_records(), t(1, 0), t(11, 0)))
    assert "25%" in page and "4 executed (the fail rate counts these)" in page and "1 failed in production" in page
    assert "18.50 h" in page and "2.00 min" in page
    assert page.count("<rect") == 5 and "<svg" in page

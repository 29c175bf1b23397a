"""``make bench``'s JSON line when the known-bad v4 never reaches production: staging may catch it (its failures
are random), and then there is no rollback to time. The line says so with nulls and a reason; it does not crash."""

import importlib
import json
import os
import sys
from datetime import datetime, timezone

from bench.rollback import rollback_line, seconds_to_detect, summary
from changeflow.domain.record import ChangeRecord, ChangeResult, Phase, State, StepOutcome

# the keys `make bench` printed before a missing rollback time was possible: docs and readers rely on them
KEYS = {
    "raw_warm_swap_ms",
    "raw_cold_swap_ms",
    "warm_rollback_ms",
    "cold_rollback_ms",
    "requests",
    "failed_requests",
    "injected_failures_seen",
    "detect_s",
    "false_rollbacks",
    "healthy_bakes",
    "bad_version_outcome",
}


def result(state: State, outcome: str, rollback_ms: float | None) -> ChangeResult:
    return ChangeResult(
        change_id="CHG-2000",
        kind="model_deployment",
        model="classifier",
        state=state,
        outcome=outcome,
        rollback_ms=rollback_ms,
    )


def report(bad: ChangeResult, detect_s: float | None) -> dict:
    return summary(
        raw_swaps_ms=(1.234, 56.78),
        bad=bad,
        cold_rollback_ms=80.04,
        requests=1000,
        failed_requests=0,
        injected_failures_seen=0 if detect_s is None else 3,
        detect_s=detect_s,
        false_rollbacks=0,
        healthy_bakes=20,
    )


def test_a_bad_version_aborted_in_staging_reports_no_rollback_time_and_why():
    bad = result(State.ABORTED, "staging validation failed: 2 of 10 smoke requests failed", None)
    line = report(bad, None)
    assert set(line) >= KEYS
    assert line["warm_rollback_ms"] is None and line["detect_s"] is None
    assert line["bad_version_outcome"] == "aborted"
    assert line["no_rollback_because"] == (
        "CHG-2000 was aborted before production was touched (staging validation failed: 2 of 10 smoke requests "
        "failed): nothing to roll back"
    )
    assert json.loads(json.dumps(line, allow_nan=False)) == line  # still one valid JSON line
    assert "aborted before production was touched" in rollback_line(bad)


def test_a_bad_version_rolled_back_in_the_bake_reports_its_rollback_time():
    line = report(result(State.ROLLED_BACK, "bake failed", 3.456), 1.234)
    assert (line["warm_rollback_ms"], line["detect_s"], line["no_rollback_because"]) == (3.46, 1.23, None)
    assert (line["raw_warm_swap_ms"], line["raw_cold_swap_ms"], line["cold_rollback_ms"]) == (1.23, 56.8, 80.0)
    assert rollback_line(result(State.ROLLED_BACK, "bake failed", 3.456)).endswith("rollback 3.5 ms")


def test_a_figure_that_is_not_finite_is_null_not_nan():
    line = report(result(State.ROLLED_BACK, "bake failed", float("nan")), float("inf"))
    assert line["warm_rollback_ms"] is None and line["detect_s"] is None
    json.dumps(line, allow_nan=False)


def test_detection_is_timed_only_from_production_failures_to_a_bake_step_that_ended():
    aborted_in_staging = ChangeRecord.model_construct(verification_steps=[])  # no bake step, no failure in production
    assert seconds_to_detect([], aborted_in_staging) is None
    first_failure = datetime(2026, 1, 1, 0, 0, 4, tzinfo=timezone.utc).timestamp()
    baked = ChangeRecord.model_construct(verification_steps=[])
    baked.start_step(Phase.VERIFICATION, "bake", datetime(2026, 1, 1, 0, 0, 1))
    assert seconds_to_detect([first_failure], baked) is None  # the bake has not ended
    baked.finish_step(Phase.VERIFICATION, "bake", datetime(2026, 1, 1, 0, 0, 10), StepOutcome.FAILED)  # naive UTC
    assert seconds_to_detect([first_failure + 2, first_failure], baked) == 6.0


def test_importing_the_bench_leaves_the_environment_alone(monkeypatch):
    """It quieted Prefect's logging for the whole test session once (PREFECT_LOGGING_LEVEL=WARNING, inherited by
    every worker started later), and the tests that read a worker's log found nothing."""
    monkeypatch.delenv("PREFECT_LOGGING_LEVEL", raising=False)
    monkeypatch.delitem(sys.modules, "bench.rollback")
    importlib.import_module("bench.rollback")
    assert "PREFECT_LOGGING_LEVEL" not in os.environ

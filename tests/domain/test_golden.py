import sys
from pathlib import Path

import numpy as np

from changeflow.domain.verdicts import CaseObservation, Outcome, assess_golden, percentile

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "model_repository" / "classifier"))
from classifier_core import predict  # noqa: E402


def observe(golden, weights, latency_ms=1.0):
    observations = []
    for index in range(len(golden)):
        scores, labels = predict(golden.requests[index]["INPUT"], weights)
        observations.append(CaseObservation(outputs={"SCORES": scores, "LABEL": labels}, latency_ms=latency_ms))
    return observations


def test_baseline_and_good_update_pass(golden):
    assert assess_golden(golden, observe(golden, "baseline")).outcome is Outcome.PASS
    verdict = assess_golden(golden, observe(golden, "retrained"))
    assert verdict.outcome is Outcome.PASS and "16 of 16" in verdict.reason


def test_swapped_classes_fail_with_the_cases_named(golden):
    verdict = assess_golden(golden, observe(golden, "swapped"))
    assert verdict.outcome is Outcome.FAIL
    assert verdict.reason.startswith("16 of 16 golden cases wrong: case 0:")


def test_schema_is_checked(golden):
    observations = observe(golden, "baseline")
    observations[3] = CaseObservation(
        outputs={
            "SCORES": observations[3].outputs["SCORES"].astype(np.float64),
            "LABEL": observations[3].outputs["LABEL"],
        }
    )
    observations[5] = CaseObservation(outputs={"SCORES": observations[5].outputs["SCORES"]})
    verdict = assess_golden(golden, observations)
    assert verdict.outcome is Outcome.FAIL
    assert "case 3: SCORES dtype float64" in verdict.reason and "case 5: output LABEL missing" in verdict.reason


def test_failed_requests_and_slow_answers_fail(golden):
    observations = observe(golden, "baseline")
    observations[0] = CaseObservation(error="connection reset")
    assert "case 0: request failed: connection reset" in assess_golden(golden, observations).reason
    slow = assess_golden(golden, observe(golden, "baseline", latency_ms=400.0))
    assert slow.outcome is Outcome.FAIL and slow.reason == "p95 latency 400.0 ms > budget 250.0 ms"


def test_missing_observations_are_inconclusive(golden):
    assert assess_golden(golden, observe(golden, "baseline")[:3]).outcome is Outcome.INCONCLUSIVE


def test_percentile_nearest_rank():
    assert percentile([5, 1, 3, 2, 4], 95) == 5 and percentile([5, 1, 3, 2, 4], 50) == 3

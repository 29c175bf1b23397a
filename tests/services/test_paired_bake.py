"""The paired bake against fake servers: every probe goes to the candidate and to the old version, and
the candidate is judged against it; metric checks with no data are not a pass."""

import numpy as np
import pytest

from changeflow.domain.comparison import ComparisonThresholds
from changeflow.domain.golden import GoldenSet, bind
from changeflow.domain.verdicts import MetricCheck, Outcome
from changeflow.exceptions import NoMetricData
from changeflow.services.bake import bake, bake_evidence
from tests.fakes import FakeModelServer
from tests.services.test_bake import ADDER, GOLDEN, LIMITS, Clock, adder

COMPARE = ComparisonThresholds(min_samples=20)


def jitter(seed: int, medians: dict[int, float]):
    rng = np.random.default_rng(seed)
    return lambda version: float(rng.lognormal(np.log(medians[version]), 0.2))


def paired_bake(server, seconds=10.0, baseline=1, comparison=COMPARE, checks=()):
    clock = Clock()
    return bake(
        server,
        server,
        GOLDEN,
        2,
        seconds=seconds,
        interval_s=1.0,
        probes_per_sample=10,
        limits=LIMITS,
        baseline=baseline,
        comparison=comparison,
        checks=checks,
        clock=clock,
        sleep=clock.sleep,
    )


def test_a_slower_candidate_is_caught_against_the_old_version_and_stops_the_bake():
    report = paired_bake(FakeModelServer(adder(), ready={"adder": [1, 2]}, latency=jitter(1, {1: 3.0, 2: 4.2})))
    assert report.verdict.outcome is Outcome.FAIL and report.verdict.reason.startswith("v2 slower than v1: p50 ")
    assert len(report.samples) < 10  # stopped before the time was up
    assert any(line.startswith("latency: FAIL: v2 slower") for line in bake_evidence(report))


@pytest.mark.parametrize("seed", range(5))
def test_two_equal_versions_pass_and_say_what_was_compared(seed):
    report = paired_bake(FakeModelServer(adder(), ready={"adder": [1, 2]}, latency=jitter(seed, {1: 3.0, 2: 3.0})))
    assert report.verdict.passed, report.verdict.reason
    assert (
        "against the old version: latency: p50" in report.verdict.reason
        and "outputs differ from v1 on 0 of 110 probes" in report.verdict.reason
    )
    assert report.comparison.checks["errors"].reason.startswith("errors 0.0% vs 0.0% (0 of 110 vs 0 of 110)")


def test_a_bake_too_short_to_compare_is_inconclusive_not_a_pass():
    report = paired_bake(
        FakeModelServer(adder(), ready={"adder": [1, 2]}), seconds=1.0, comparison=ComparisonThresholds(min_samples=30)
    )
    assert report.verdict.outcome is Outcome.INCONCLUSIVE and "needed from each" in report.verdict.reason


def test_outputs_that_differ_from_the_old_version_fail_only_with_a_budget():
    loose = bind(
        GoldenSet.model_validate(
            {
                "model": "adder",
                "compare": {"SUM": {"atol": 1.0}},
                "cases": [
                    {"inputs": {"X": [1, 2]}, "expected": {"SUM": [3]}},
                    {"inputs": {"X": [4, 5]}, "expected": {"SUM": [9]}},
                ],
            }
        ),
        ADDER,
    )

    def retrained(model, version, inputs):  # both within 1.0 of the golden answers, 1.2 apart from each other
        total = inputs["X"].sum(axis=1, keepdims=True).astype(np.float32)
        return {"SUM": total + (-0.6 if version == 1 else 0.6)}

    def run(comparison):
        clock = Clock()
        return bake(
            FakeModelServer(retrained, ready={"adder": [1, 2]}),
            None,
            loose,
            2,
            seconds=5.0,
            interval_s=1.0,
            probes_per_sample=10,
            limits=LIMITS,
            baseline=1,
            comparison=comparison,
            clock=clock,
            sleep=clock.sleep,
        )

    shown = run(COMPARE)
    assert (
        shown.verdict.passed
        and "outputs differ from v1 on 60 of 60 probes (100.0%); not judged" in shown.verdict.reason
    )
    judged = run(COMPARE.model_copy(update={"max_disagreement": 0.05}))
    assert judged.verdict.outcome is Outcome.FAIL
    assert judged.verdict.reason.startswith(
        "outputs differ from v1 on 20 of 20 probes (100.0%) > 5.0% allowed: case 0: SUM off by up to 1.2"
    )


def test_without_a_baseline_the_thresholds_judge_and_the_verdict_says_it_was_not_compared():
    report = paired_bake(FakeModelServer(adder(), ready={"adder": [2]}), baseline=None)
    assert report.verdict.passed and report.verdict.reason.endswith(
        "not compared: no baseline version loaded beside it"
    )


class Provider:
    def __init__(self, value):
        self.value, self.asked = value, []

    def query(self, query: str) -> float:
        self.asked.append(query)
        if self.value is None:
            raise NoMetricData("nothing")
        return self.value


def check(query="rate(errors{model='{{model}}',version='{{version}}'}[1m])", max_value=0.05):
    return MetricCheck(name="gateway errors", provider="prometheus", query=query, max_value=max_value)


def test_a_metric_check_over_its_maximum_fails_the_bake_and_its_query_names_the_change():
    provider = Provider(0.2)
    report = paired_bake(FakeModelServer(adder(), ready={"adder": [1, 2]}), checks=[(check(), provider)])
    assert report.verdict.outcome is Outcome.FAIL and "gateway errors 0.2 > 0.05" in report.verdict.reason
    assert provider.asked[0] == "rate(errors{model='adder',version='2'}[1m])"


def test_a_metric_check_without_data_makes_the_bake_inconclusive():
    report = paired_bake(FakeModelServer(adder(), ready={"adder": [1, 2]}), checks=[(check(), Provider(None))])
    assert report.verdict.outcome is Outcome.INCONCLUSIVE and "gateway errors: no data" in report.verdict.reason


def failing_candidate(every: int, old_fails_too: bool = False):
    """v2 fails every ``every``-th request it answers; v1 only when ``old_fails_too`` (a shared cause)."""
    from changeflow.exceptions import InferenceError

    calls = {1: 0, 2: 0}

    def answer(model, version, inputs):
        calls[version] += 1
        if (version == 2 or old_fails_too) and calls[version] % every == 0:
            raise InferenceError("injected per-response error")
        return {"SUM": inputs["X"].sum(axis=1, keepdims=True).astype(np.float32)}

    return answer


def test_one_failed_sample_beside_a_healthy_old_version_fails_the_bake_at_once():
    limits = LIMITS.model_copy(update={"failure_limit": 1})  # alone, a second failing sample would be needed
    clock = Clock()
    report = bake(
        FakeModelServer(failing_candidate(every=5), ready={"adder": [1, 2]}),
        None,
        GOLDEN,
        2,
        seconds=10.0,
        interval_s=1.0,
        probes_per_sample=10,
        limits=limits,
        baseline=1,
        comparison=COMPARE,
        clock=clock,
        sleep=clock.sleep,
    )
    assert report.verdict.outcome is Outcome.FAIL and len(report.samples) == 1
    assert report.verdict.reason.endswith("while v1 answered the same probes without an error")


def test_a_failure_both_versions_share_waits_for_the_failure_limit():
    limits = LIMITS.model_copy(update={"failure_limit": 1})
    clock = Clock()
    report = bake(
        FakeModelServer(failing_candidate(every=5, old_fails_too=True), ready={"adder": [1, 2]}),
        None,
        GOLDEN,
        2,
        seconds=10.0,
        interval_s=1.0,
        probes_per_sample=10,
        limits=limits,
        baseline=1,
        comparison=COMPARE,
        clock=clock,
        sleep=clock.sleep,
    )
    assert (
        report.verdict.outcome is Outcome.FAIL
        and len(report.samples) == 2
        and "in 2 of 2 samples" in report.verdict.reason
    )

"""The baseline-vs-candidate judge on fixed samples: a shift it must catch, noise it must not, too
little data is INCONCLUSIVE (never a pass)."""

import numpy as np
import pytest

from changeflow.domain.comparison import ComparisonThresholds, PairedObservations, VersionObservations, compare
from changeflow.domain.verdicts import Outcome

LIMITS = ComparisonThresholds()


def latencies(seed: int, n: int, median_ms: float) -> tuple[float, ...]:
    """Log-normal request latencies (a long right tail, like real ones) around ``median_ms``."""
    return tuple(float(x) for x in np.random.default_rng(seed).lognormal(np.log(median_ms), 0.25, n))


def paired(
    new: tuple[float, ...], old: tuple[float, ...], new_errors: int = 0, old_errors: int = 0, **outputs
) -> PairedObservations:
    return PairedObservations(
        baseline=VersionObservations(version=1, latencies_ms=old, errors=old_errors),
        candidate=VersionObservations(version=2, latencies_ms=new, errors=new_errors),
        compared=outputs.pop("compared", min(len(new), len(old))),
        **outputs,
    )


def test_a_40_percent_slower_candidate_fails_with_its_figures():
    result = compare(paired(latencies(1, 200, 4.2), latencies(2, 200, 3.0)), LIMITS)
    assert result.verdict.outcome is Outcome.FAIL
    reason = result.checks["latency"].reason
    assert reason.startswith("v2 slower than v1: p50 ") and "U-test p=" in reason and "(+4" in reason
    assert result.verdict.reason.startswith("v2 slower than v1")


@pytest.mark.parametrize("seed", range(20))
def test_noise_between_two_equal_versions_passes(seed):
    result = compare(paired(latencies(seed, 300, 3.0), latencies(seed + 100, 300, 3.0)), LIMITS)
    assert result.verdict.outcome is Outcome.PASS, result.verdict.reason


def test_a_significant_but_small_slowdown_is_not_a_regression():
    result = compare(paired(latencies(3, 3000, 3.3), latencies(4, 3000, 3.0)), LIMITS)  # +10 %, p tiny
    assert result.checks["latency"].outcome is Outcome.PASS and "p=" in result.checks["latency"].reason


def test_a_large_shift_on_too_few_samples_is_inconclusive_not_a_pass():
    result = compare(paired(latencies(5, 10, 6.0), latencies(6, 10, 3.0)), LIMITS)
    assert result.verdict.outcome is Outcome.INCONCLUSIVE
    assert "10 and 10 answers, 40 needed from each" in result.verdict.reason


def test_no_samples_at_all_is_inconclusive():
    assert compare(paired((), ()), LIMITS).verdict.outcome is Outcome.INCONCLUSIVE


def test_a_rise_from_0_1_to_3_percent_errors_fails():
    result = compare(paired(latencies(7, 970, 3.0), latencies(8, 999, 3.0), new_errors=30, old_errors=1), LIMITS)
    assert result.verdict.outcome is Outcome.FAIL
    assert "errors 3.0% vs 0.1% (30 of 1000 vs 1 of 1000), two-proportion p=" in result.checks["errors"].reason


def test_one_error_in_forty_is_not_yet_a_regression():
    result = compare(paired(latencies(9, 39, 3.0), latencies(10, 40, 3.0), new_errors=1), LIMITS)
    assert result.checks["errors"].outcome is Outcome.PASS


def test_a_tiny_significant_error_rise_below_the_minimum_is_not_a_regression():
    limits = ComparisonThresholds(min_error_rise=0.05)
    result = compare(paired(latencies(11, 9700, 3.0), latencies(12, 10000, 3.0), new_errors=300), limits)
    assert result.checks["errors"].outcome is Outcome.PASS


def test_disagreement_is_shown_but_not_judged_without_a_budget():
    seen = paired(
        latencies(13, 100, 3.0), latencies(14, 100, 3.0), disagreements=100, first_disagreement="case 0: y off by 1"
    )
    check = compare(seen, LIMITS).checks["outputs"]
    assert check.outcome is Outcome.PASS and "100 of 100 probes (100.0%); not judged" in check.reason


def test_disagreement_over_the_budget_fails_naming_the_first_case():
    seen = paired(
        latencies(13, 100, 3.0), latencies(14, 100, 3.0), disagreements=6, first_disagreement="case 3: y off by 0.5"
    )
    result = compare(seen, ComparisonThresholds(max_disagreement=0.05))
    assert result.verdict.outcome is Outcome.FAIL
    assert (
        result.checks["outputs"].reason
        == "outputs differ from v1 on 6 of 100 probes (6.0%) > 5.0% allowed: case 3: y off by 0.5"
    )
    assert compare(seen, ComparisonThresholds(max_disagreement=0.10)).checks["outputs"].outcome is Outcome.PASS


def test_a_fail_outranks_missing_data_in_the_overall_reason():
    seen = paired(latencies(15, 100, 3.0), latencies(16, 100, 3.0), new_errors=60, compared=3)
    result = compare(seen, ComparisonThresholds(max_disagreement=0.0))
    assert result.verdict.outcome is Outcome.FAIL and result.verdict.reason.startswith("v2 fails more than v1")


def test_what_a_doubtful_bake_does_by_default_per_type():
    from changeflow.domain.comparison import DoubtAction, Verification
    from changeflow.domain.request import ChangeType
    from changeflow.domain.verdicts import Verdict

    fail, unsure, error = (Verdict(outcome=o, reason="x") for o in (Outcome.FAIL, Outcome.INCONCLUSIVE, Outcome.ERROR))
    policy = Verification()
    assert [policy.action(t, fail) for t in ChangeType] == [
        DoubtAction.ROLLBACK
    ] * 3  # evidence of harm waits for nobody
    assert {t: policy.action(t, unsure) for t in ChangeType} == {
        ChangeType.STANDARD: DoubtAction.ROLLBACK,
        ChangeType.NORMAL: DoubtAction.ASK,
        ChangeType.EMERGENCY: DoubtAction.ASK,
    }
    assert Verification(on_fail={ChangeType.NORMAL: DoubtAction.ASK}).action(ChangeType.NORMAL, fail) is DoubtAction.ASK
    assert (
        Verification(on_fail={ChangeType.NORMAL: DoubtAction.ASK}).action(ChangeType.NORMAL, error)
        is DoubtAction.ROLLBACK
    )


def test_one_failed_sample_fails_at_once_only_for_probe_errors_beside_an_error_free_old_version():
    from changeflow.domain.comparison import failed_beside_a_healthy_baseline
    from changeflow.domain.verdicts import BakeSample, BakeThresholds

    limits = BakeThresholds(max_error_rate=0.05)
    errors = BakeSample(at_s=1.0, probe_requests=20, probe_failures=2, probe_problem="case 3: HTTP 500")
    verdict = failed_beside_a_healthy_baseline(errors, limits, baseline=1, baseline_errors=0)
    assert verdict.outcome.value == "FAIL" and verdict.reason == (
        "probe error rate 10.0% > 5.0% (2 of 20) (case 3: HTTP 500), while v1 answered the same probes without an error"
    )
    assert (
        failed_beside_a_healthy_baseline(errors, limits, baseline=1, baseline_errors=1) is None
    )  # a shared cause: wait
    within = BakeSample(at_s=1.0, probe_requests=20, probe_failures=1)
    assert failed_beside_a_healthy_baseline(within, limits, baseline=1, baseline_errors=0) is None
    server_only = BakeSample(
        at_s=1.0, probe_requests=20, server_requests=100, server_failures=50
    )  # no control for those
    assert failed_beside_a_healthy_baseline(server_only, limits, baseline=1, baseline_errors=0) is None

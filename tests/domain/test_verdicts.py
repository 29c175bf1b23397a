"""The bake analysis decides rollbacks: each sample's verdict and the series' verdict, with reasons."""

import pytest

from changeflow.domain.verdicts import BakeSample, BakeThresholds, Outcome, Verdict, assess, evaluate

LIMITS = BakeThresholds(max_error_rate=0.05, min_requests=5, failure_limit=1, consecutive_error_limit=2)


def sample(**fields) -> BakeSample:
    return BakeSample(at_s=1.0, **fields)


def test_a_clean_sample_passes_with_its_error_rate():
    verdict = evaluate(sample(server_requests=100, probe_requests=20), LIMITS)
    assert verdict.outcome is Outcome.PASS and "0.0% <= 5.0%" in verdict.reason


def test_probe_failures_fail_a_sample_even_when_the_server_counts_none():
    verdict = evaluate(
        sample(
            server_requests=100, server_failures=0, probe_requests=20, probe_failures=2, probe_problem="case 3: wrong"
        ),
        LIMITS,
    )
    assert verdict.outcome is Outcome.FAIL
    assert verdict.reason == "probe error rate 10.0% > 5.0% (2 of 20) (case 3: wrong)"


def test_server_failures_fail_a_sample_only_with_enough_requests():
    assert evaluate(sample(server_requests=100, server_failures=10), LIMITS).outcome is Outcome.FAIL
    thin = evaluate(sample(server_requests=2, server_failures=2), LIMITS)
    assert thin.outcome is Outcome.INCONCLUSIVE and "2 requests < 5 needed" in thin.reason


def test_a_latency_budget_fails_a_slow_sample():
    limits = LIMITS.model_copy(update={"max_mean_latency_ms": 10.0})
    slow = evaluate(sample(server_requests=10, server_duration_us=10 * 25_000), limits)
    assert slow.outcome is Outcome.FAIL and slow.reason == "mean latency 25.0 ms > 10.0 ms"
    assert evaluate(sample(server_requests=10, server_duration_us=10 * 5_000), limits).passed


def test_a_measurement_error_is_an_error_not_a_failure_of_the_model():
    verdict = evaluate(sample(error="metrics do not answer"), LIMITS)
    assert verdict.outcome is Outcome.ERROR and "metrics do not answer" in verdict.reason


def v(outcome: Outcome) -> Verdict:
    return Verdict(outcome=outcome, reason=outcome.value.lower())


def test_the_series_fails_beyond_the_failure_limit_only():
    assert assess([v(Outcome.PASS), v(Outcome.FAIL), v(Outcome.PASS)], LIMITS).passed  # one failure is within the limit
    failed = assess([v(Outcome.FAIL), v(Outcome.PASS), v(Outcome.FAIL)], LIMITS)
    assert failed.outcome is Outcome.FAIL and failed.reason == "fail in 2 of 3 samples"


def test_consecutive_errors_beyond_the_limit_make_the_series_an_error():
    assert assess([v(Outcome.ERROR), v(Outcome.ERROR), v(Outcome.PASS), v(Outcome.ERROR)], LIMITS).passed
    errored = assess([v(Outcome.PASS), v(Outcome.ERROR), v(Outcome.ERROR), v(Outcome.ERROR)], LIMITS)
    assert errored.outcome is Outcome.ERROR and errored.reason.startswith("3 consecutive samples could not be measured")


@pytest.mark.parametrize("verdicts", [[], [v(Outcome.INCONCLUSIVE)] * 3])
def test_no_data_is_not_a_pass(verdicts):
    assert assess(verdicts, LIMITS).outcome is Outcome.INCONCLUSIVE

"""The paired judge on streams (#26): the time to the first response and the gaps between responses judged
like latency, each on its own, over random streams; too few streams is INCONCLUSIVE; a unary model's
comparison keeps its questions and wording."""

import math

import numpy as np
import pytest

from changeflow.domain.comparison import (
    BakeRule,
    ComparisonThresholds,
    PairedObservations,
    VersionObservations,
    compare,
    median_gap_ms,
)
from changeflow.domain.streams import StreamResult
from changeflow.domain.verdicts import BakeThresholds, Outcome

LIMITS = ComparisonThresholds()
TOKENS = 16


def stream(arrivals_s) -> StreamResult:
    return StreamResult(
        model="generator",
        outputs=tuple({"TOKEN": np.array([b"x"], dtype=object)} for _ in arrivals_s),
        arrivals_s=tuple(arrivals_s),
        total_s=arrivals_s[-1] if arrivals_s else 0.0,
        completed=True,
    )


def streams(seed: int, n: int, first_ms: float, gap_ms: float, tokens: int = TOKENS) -> list[StreamResult]:
    """Random streams: a log-normal first response around ``first_ms``, then log-normal gaps around
    ``gap_ms`` (long right tails, like real ones)."""
    rng = np.random.default_rng(seed)
    made = []
    for _ in range(n):
        first = rng.lognormal(np.log(first_ms / 1000.0), 0.25)
        gaps = rng.lognormal(np.log(gap_ms / 1000.0), 0.3, tokens - 1)
        made.append(stream([float(first), *(float(first + t) for t in np.cumsum(gaps))]))
    return made


def observed(version: int, answers: list[StreamResult]) -> VersionObservations:
    """What the bake keeps of successful streaming answers: first response, and each stream's median gap."""
    gaps = [g for s in answers if (g := median_gap_ms(s)) is not None]
    return VersionObservations(version=version).plus(
        [s.first_response_s * 1000.0 for s in answers], 0, streams=len(answers), gaps_ms=gaps
    )


def paired(new: list[StreamResult], old: list[StreamResult]) -> PairedObservations:
    return PairedObservations(baseline=observed(1, old), candidate=observed(2, new), compared=min(len(new), len(old)))


def test_a_stream_counts_once_by_its_median_gap_and_a_single_response_has_none():
    assert median_gap_ms(stream([0.010, 0.014, 0.030, 0.034])) == pytest.approx(4.0)  # gaps 4, 16, 4 ms
    assert median_gap_ms(stream([0.010])) is None and median_gap_ms(stream([])) is None


def test_a_40_percent_slower_first_response_fails_naming_the_first_response():
    result = compare(paired(streams(1, 200, 25.2, 4.0), streams(2, 200, 18.0, 4.0)), LIMITS)
    assert result.verdict.outcome is Outcome.FAIL
    first = result.checks["latency"]
    assert first.outcome is Outcome.FAIL and first.reason.startswith("v2's first response slower than v1's: p50 ")
    assert "U-test p=" in first.reason and result.verdict.reason.startswith("v2's first response slower")
    assert result.checks["gaps"].outcome is Outcome.PASS and result.checks["gaps"].reason.startswith("gaps: p50 ")


def test_40_percent_longer_gaps_fail_naming_the_gaps_while_the_first_response_is_equal():
    result = compare(paired(streams(3, 200, 18.0, 5.6), streams(4, 200, 18.0, 4.0)), LIMITS)
    assert result.verdict.outcome is Outcome.FAIL
    gaps = result.checks["gaps"]
    assert gaps.outcome is Outcome.FAIL and gaps.reason.startswith("v2's gaps between responses longer than v1's: p50 ")
    assert "(+4" in gaps.reason and result.verdict.reason.startswith("v2's gaps between responses longer")
    first = result.checks["latency"]
    assert first.outcome is Outcome.PASS and first.reason.startswith("first response: p50 ")


def test_shorter_gaps_are_not_a_regression():
    result = compare(paired(streams(5, 200, 18.0, 2.0), streams(6, 200, 18.0, 4.0)), LIMITS)
    assert result.checks["gaps"].outcome is Outcome.PASS and result.verdict.passed


@pytest.mark.parametrize("seed", range(20))
def test_healthy_noise_between_two_equal_streaming_versions_passes(seed):
    result = compare(paired(streams(seed, 300, 18.0, 4.0), streams(seed + 100, 300, 18.0, 4.0)), LIMITS)
    assert result.verdict.outcome is Outcome.PASS, result.verdict.reason
    assert list(result.checks) == ["latency", "gaps", "errors", "outputs"]


def test_too_few_streams_is_inconclusive_not_a_pass():
    result = compare(paired(streams(7, 10, 36.0, 8.0), streams(8, 10, 18.0, 4.0)), LIMITS)
    assert result.verdict.outcome is Outcome.INCONCLUSIVE
    assert "first response: 10 and 10 answers, 40 needed from each" in result.verdict.reason
    assert "gaps: 10 and 10 streams with gaps, 40 needed from each" in result.verdict.reason


def test_a_candidate_whose_streams_lost_their_gaps_is_inconclusive_on_gaps():
    single = [stream([s.first_response_s]) for s in streams(9, 100, 18.0, 4.0)]
    result = compare(paired(single, streams(10, 100, 18.0, 4.0)), LIMITS)
    assert result.checks["gaps"].outcome is Outcome.INCONCLUSIVE
    assert result.checks["gaps"].reason == "gaps: 0 and 100 streams with gaps, 40 needed from each"
    assert result.verdict.outcome is Outcome.INCONCLUSIVE


def test_a_gap_that_is_not_a_number_is_inconclusive_not_a_pass():
    seen = paired(streams(11, 100, 18.0, 4.0), streams(12, 100, 18.0, 4.0))
    broken = seen.candidate.model_copy(update={"gaps_ms": (*seen.candidate.gaps_ms[:-1], math.nan)})
    result = compare(seen.model_copy(update={"candidate": broken}), LIMITS)
    assert result.checks["gaps"].outcome is Outcome.INCONCLUSIVE
    assert result.checks["gaps"].reason == "gaps: 1 of 200 figures not a number, nothing to compare"


def test_unary_answers_keep_the_old_questions_and_wording():
    def unary(version, seed):
        values = np.random.default_rng(seed).lognormal(np.log(3.0), 0.25, 100)
        return VersionObservations(version=version).plus([float(x) for x in values], 0, streams=0, gaps_ms=())

    result = compare(PairedObservations(baseline=unary(1, 13), candidate=unary(2, 14), compared=100), LIMITS)
    assert list(result.checks) == ["latency", "errors", "outputs"]
    assert result.checks["latency"].reason.startswith("latency: p50 ") and "first response" not in result.verdict.reason


def test_streams_of_one_response_are_judged_on_the_first_response_without_a_gaps_question():
    one = [stream([s.first_response_s]) for s in streams(15, 100, 18.0, 4.0)]
    other = [stream([s.first_response_s]) for s in streams(16, 100, 18.0, 4.0)]
    result = compare(paired(one, other), LIMITS)
    assert list(result.checks) == ["latency", "errors", "outputs"]
    assert result.checks["latency"].reason.startswith("first response: p50 ") and result.verdict.passed


def test_the_bake_rule_tells_approvers_that_streams_are_judged_on_first_response_and_gaps():
    text = BakeRule(thresholds=BakeThresholds(), comparison=LIMITS).describe()
    assert "0.999 for latency (p50 +30% or more; a stream's first response and gaps alike)" in text

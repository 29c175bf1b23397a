"""The paired bake of a streaming (decoupled) model against a fake server whose answers carry their streams
(#26): streams broken mid-way and streams that never ended are errors, slower gaps between responses fail
the comparison, a healthy candidate passes, and the gaps it judged are the streams' own."""

import dataclasses

import numpy as np
import pytest

from changeflow.domain.comparison import ComparisonThresholds
from changeflow.domain.streams import StreamResult
from changeflow.domain.verdicts import Outcome
from changeflow.exceptions import InferenceError
from tests.fakes import FakeModelServer
from tests.services.test_bake import adder
from tests.services.test_paired_bake import paired_bake

COMPARE = ComparisonThresholds(min_samples=20)
RESPONSES = 16


class StreamingServer(FakeModelServer):
    """Answers as the stream client does: the answer's ``stream`` holds ``RESPONSES`` responses whose first
    response (ms) and gaps (ms) are drawn around ``pace[version]``, and ``latency_ms`` is the first response."""

    def __init__(self, answer, pace: dict[int, tuple[float, float]], seed: int = 0) -> None:
        super().__init__(answer, ready={"adder": [1, 2]})
        self.pace, self.rng = pace, np.random.default_rng(seed)

    def infer(self, model, inputs, version=None, datatypes=None):
        result = super().infer(model, inputs, version, datatypes)
        first_ms, gap_ms = self.pace[result.model_version]
        first = self.rng.lognormal(np.log(first_ms / 1000.0), 0.2)
        gaps = self.rng.lognormal(np.log(gap_ms / 1000.0), 0.3, RESPONSES - 1)
        arrivals = (float(first), *(float(first + t) for t in np.cumsum(gaps)))
        stream = StreamResult(
            model=model,
            outputs=tuple(dict(result.outputs) for _ in arrivals),
            arrivals_s=arrivals,
            total_s=arrivals[-1],
            completed=True,
            version=result.model_version,
            server=self.name,
        )
        return dataclasses.replace(result, latency_ms=arrivals[0] * 1000.0, stream=stream)


def failing_streams(every: int, error: str):
    """v2 raises ``error`` on every ``every``-th request it answers, as the stream client does for a stream
    that broke or did not end; v1 always ends its streams."""
    right, calls = adder(), {"v2": 0}

    def answer(model, version, inputs):
        if version == 2:
            calls["v2"] += 1
            if calls["v2"] % every == 0:
                raise InferenceError(error)
        return right(model, version, inputs)

    return answer


def stream_bake(server, seconds=10.0):
    """The same paired bake as a unary model's (tests/services/test_paired_bake.py): v2 against v1."""
    return paired_bake(server, seconds=seconds)


EQUAL = {1: (18.0, 4.0), 2: (18.0, 4.0)}


def test_streams_broken_mid_way_fail_the_bake_naming_the_break():
    broke = "fake: adder stream broke after 3 responses: injected mid-stream error"
    report = stream_bake(StreamingServer(failing_streams(3, broke), EQUAL))
    assert report.verdict.outcome is Outcome.FAIL
    assert broke in report.verdict.reason and report.verdict.reason.startswith(
        "probe error rate 30.0% > 5.0% (3 of 10)"
    )
    assert report.samples[0].probe_failures == 3 and report.observed.candidate.errors == 3
    assert report.observed.candidate.streams == 7 and report.observed.baseline.streams == 10  # broken ones: no gaps


def test_a_stream_without_its_final_response_counts_as_an_error():
    endless = "fake: adder stream did not end within 0.5 s (after 16 responses)"
    report = stream_bake(StreamingServer(failing_streams(10, endless), EQUAL))
    assert report.samples[0].probe_failures == 1 and report.observed.candidate.errors == 1
    assert report.observed.candidate.streams == 9  # the endless one is not a stream that answered
    assert report.verdict.outcome is Outcome.FAIL and endless in report.verdict.reason


def test_a_candidate_with_40_percent_longer_gaps_fails_on_the_gaps():
    report = stream_bake(StreamingServer(adder(), {1: (18.0, 4.0), 2: (18.0, 5.6)}, seed=1))
    assert report.verdict.outcome is Outcome.FAIL
    assert report.verdict.reason.startswith("v2's gaps between responses longer than v1's: p50 ")
    assert report.comparison.checks["gaps"].outcome is Outcome.FAIL
    assert report.comparison.checks["latency"].reason.startswith("first response: p50 ")
    assert len(report.samples) < 10  # caught before the time was up


@pytest.mark.parametrize("seed", range(5))
def test_a_healthy_streaming_candidate_passes_judged_on_first_response_and_gaps(seed):
    report = stream_bake(StreamingServer(adder(), EQUAL, seed=seed))
    assert report.verdict.passed, report.verdict.reason
    assert "against the old version: first response: p50 " in report.verdict.reason
    assert "; gaps: p50 " in report.verdict.reason
    seen = report.observed.candidate
    assert seen.streams == len(seen.latencies_ms) == len(seen.gaps_ms) == 110
    assert all(3.0 < gap < 5.5 for gap in seen.gaps_ms)  # each stream's median gap, in ms

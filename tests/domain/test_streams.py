"""Streams as a client saw them, summarized: percentiles, gaps, errors, missing ends, joined text (pure)."""

from pathlib import Path

import numpy as np
import pytest

from changeflow.domain.model_config import parse_config
from changeflow.domain.streams import StreamEnd, StreamResult, is_decoupled, joined_text, summarize
from changeflow.exceptions import InferenceError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def tokens(*words: bytes) -> tuple[dict[str, np.ndarray], ...]:
    return tuple({"OUT": np.array([word], dtype=object)} for word in words)


def stream(arrivals, *, total=None, completed=True, error=None, timed_out=False, words=None) -> StreamResult:
    words = words or [b"w"] * len(arrivals)
    return StreamResult(
        model="gen",
        outputs=tokens(*words),
        arrivals_s=tuple(arrivals),
        total_s=total if total is not None else (arrivals[-1] if arrivals else 0.0) + 0.001,
        completed=completed,
        error=error,
        timed_out=timed_out,
    )


def test_first_response_gap_and_total_percentiles_are_nearest_rank_in_ms():
    # twenty streams: first response 10, 20, ... 200 ms; two responses 5 ms apart, then 1 ms to the end
    streams = [stream([k / 100.0, k / 100.0 + 0.005], total=k / 100.0 + 0.006) for k in range(1, 21)]
    summary = summarize(streams)
    assert (summary.streams, summary.completed, summary.errors, summary.timeouts) == (20, 20, 0, 0)
    assert summary.first_response_p50_ms == pytest.approx(100.0)
    assert summary.first_response_p95_ms == pytest.approx(190.0)
    assert summary.gap_p50_ms == pytest.approx(5.0) and summary.gap_p95_ms == pytest.approx(5.0)
    assert summary.total_p50_ms == pytest.approx(106.0) and summary.total_p95_ms == pytest.approx(196.0)
    assert (summary.responses_min, summary.responses_p50, summary.responses_max) == (2, 2, 2)


def test_gaps_are_between_consecutive_responses():
    one = stream([0.020, 0.025, 0.035, 0.036])
    assert one.first_response_s == 0.020
    assert one.gaps_s == pytest.approx((0.005, 0.010, 0.001))
    assert summarize([one]).gap_p95_ms == pytest.approx(10.0)


def test_a_missing_final_response_counts_as_a_timeout_even_unflagged():
    healthy = stream([0.01, 0.02], total=0.03)
    unended = stream([0.01, 0.02], total=5.0, completed=False)  # no final response, no error, no flag set
    flagged = stream([0.01], total=5.0, completed=False, timed_out=True)
    assert unended.end is StreamEnd.TIMEOUT and flagged.end is StreamEnd.TIMEOUT
    summary = summarize([healthy, unended, flagged])
    assert (summary.completed, summary.errors, summary.timeouts) == (1, 0, 2)
    assert summary.timeout_rate == pytest.approx(2 / 3)
    assert summary.total_p95_ms == pytest.approx(30.0)  # a stream that never ended says nothing of how long one takes
    assert summary.first_response_p95_ms == pytest.approx(10.0)  # but its first response was seen


def test_a_mid_stream_error_is_counted_and_named():
    broken = stream([0.01, 0.015, 0.02], total=0.021, completed=False, error="gen v4: stream broken after 3 tokens")
    summary = summarize([stream([0.01, 0.02]), broken, broken])
    assert broken.end is StreamEnd.ERROR
    assert (summary.completed, summary.errors, summary.timeouts) == (1, 2, 0)
    assert summary.error_rate == pytest.approx(2 / 3)
    assert summary.first_errors == ("gen v4: stream broken after 3 tokens",)  # distinct texts
    assert (summary.responses_min, summary.responses_max) == (2, 3)


def test_no_streams_give_no_figures_not_zeros():
    summary = summarize([])
    assert summary.streams == 0 and summary.error_rate is None and summary.timeout_rate is None
    assert summary.first_response_p50_ms is None and summary.gap_p95_ms is None and summary.total_p50_ms is None
    silent = summarize([stream([], total=5.0, completed=False, timed_out=True)])  # nothing arrived at all
    assert silent.timeouts == 1 and silent.first_response_p50_ms is None and silent.responses_max == 0


def test_joined_text_reads_the_tokens_in_order_as_bytes_first():
    assert joined_text(stream([0.1, 0.2, 0.3], words=[b"It", b" was", b" the"]), "OUT") == "It was the"
    split_character = stream([0.1, 0.2], words=["café".encode()[:4], "café".encode()[4:]])
    assert joined_text(split_character, "OUT") == "café"
    assert joined_text(stream([], completed=True), "OUT") == ""


def test_joined_text_refuses_a_missing_or_non_bytes_output():
    with pytest.raises(InferenceError, match="response 0 .*no output 'TEXT'"):
        joined_text(stream([0.1], words=[b"x"]), "TEXT")
    numbers = StreamResult(
        model="gen", outputs=({"OUT": np.array([1.5])},), arrivals_s=(0.1,), total_s=0.2, completed=True
    )
    with pytest.raises(InferenceError, match="holds float, not BYTES"):
        joined_text(numbers, "OUT")


def test_a_result_needs_one_arrival_per_response():
    with pytest.raises(ValueError, match="2 responses but 1 arrival"):
        StreamResult(model="gen", outputs=tokens(b"a", b"b"), arrivals_s=(0.1,), total_s=0.2, completed=True)


def test_the_config_says_whether_a_model_streams():
    generator = parse_config((EXAMPLES / "model_repository" / "generator" / "config.pbtxt").read_text())
    classifier = parse_config((EXAMPLES / "model_repository" / "classifier" / "config.pbtxt").read_text())
    assert is_decoupled(generator) and not is_decoupled(classifier)

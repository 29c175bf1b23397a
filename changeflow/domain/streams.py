"""Streams of a decoupled model as a client saw them, and what many of them add up to (pure: no I/O).

A decoupled model (``model_transaction_policy { decoupled: true }``, every LLM served by Triton) answers one
request with a stream of responses, so a stream is judged on what its client sees: when the first response
came, the gaps between responses, the total, how many responses, whether it broke mid-way (an error) and
whether it ended at all (the final response). A stream that did not end in time is a timeout, whatever
else it carried: **a missing end is never a pass**. Timings are measured at the client because Triton 2.51
exports no first-response histogram.

``adapters.triton_stream`` makes a ``StreamResult`` per request; ``summarize`` turns many into the figures a
validation or a bake judges; ``joined_text`` reads a token stream as the text its user reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import BaseModel

from changeflow.domain.percentiles import percentile
from changeflow.exceptions import InferenceError

if TYPE_CHECKING:
    import numpy as np

    from changeflow.domain.model_config import ModelConfig

__all__ = ["StreamEnd", "StreamResult", "StreamSummary", "is_decoupled", "joined_text", "summarize"]


def is_decoupled(config: ModelConfig) -> bool:
    """Whether a model streams (its config's ``model_transaction_policy { decoupled: true }``): such a model
    must be called over the gRPC stream; Triton refuses it over HTTP ``infer``."""
    return bool(config.model_transaction_policy.decoupled)


class StreamEnd(StrEnum):
    """How a stream ended: its final response, an error response, or not at all before its deadline."""

    COMPLETE = "complete"
    ERROR = "error"
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class StreamResult:
    """One request's stream as its client saw it.

    ``outputs`` holds one mapping per response that carried outputs (numpy arrays by output name, BYTES as
    object arrays); the flags-only final response is not one of them. ``arrivals_s`` holds, per response,
    the seconds from sending the request to its arrival; ``total_s`` the seconds to the final response, the
    error or the deadline. ``completed`` says the final response arrived; ``error`` is the first error's text.
    """

    model: str
    outputs: tuple[Mapping[str, np.ndarray], ...] = field(repr=False)
    arrivals_s: tuple[float, ...]
    total_s: float
    completed: bool
    error: str | None = None
    timed_out: bool = False
    version: int | None = None  # the version that answered (None when no response said)
    server: str = ""

    def __post_init__(self) -> None:
        if len(self.outputs) != len(self.arrivals_s):
            raise ValueError(f"{len(self.outputs)} responses but {len(self.arrivals_s)} arrival times")

    @property
    def end(self) -> StreamEnd:
        """An error counts before a missing end; a stream that neither completed nor failed timed out."""
        if self.error is not None:
            return StreamEnd.ERROR
        if self.completed and not self.timed_out:
            return StreamEnd.COMPLETE
        return StreamEnd.TIMEOUT

    @property
    def responses(self) -> int:
        return len(self.outputs)

    @property
    def first_response_s(self) -> float | None:
        return self.arrivals_s[0] if self.arrivals_s else None

    @property
    def gaps_s(self) -> tuple[float, ...]:
        return tuple(later - earlier for earlier, later in zip(self.arrivals_s, self.arrivals_s[1:]))

    @property
    def gaps_ms(self) -> tuple[float, ...]:
        return tuple(gap * 1000.0 for gap in self.gaps_s)


class StreamSummary(BaseModel, frozen=True):
    """What many streams add up to. A figure is None when no stream gave it (no data is not a zero).

    The first response and the gaps count every stream that had them (a broken stream's too); the total
    counts completed streams only (a broken or timed-out stream's total says when it stopped, not how long
    a stream takes)."""

    streams: int
    completed: int
    errors: int
    timeouts: int
    first_response_p50_ms: float | None = None
    first_response_p95_ms: float | None = None
    gap_p50_ms: float | None = None
    gap_p95_ms: float | None = None
    total_p50_ms: float | None = None
    total_p95_ms: float | None = None
    responses_min: int | None = None
    responses_p50: int | None = None
    responses_max: int | None = None
    first_errors: tuple[str, ...] = ()  # up to three distinct error texts, for a verdict's reason

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.streams if self.streams else None

    @property
    def timeout_rate(self) -> float | None:
        return self.timeouts / self.streams if self.streams else None


def _ms_pair(values_s: Sequence[float]) -> tuple[float | None, float | None]:
    if not values_s:
        return None, None
    return percentile(values_s, 50) * 1000.0, percentile(values_s, 95) * 1000.0


def summarize(streams: Sequence[StreamResult]) -> StreamSummary:
    """First response, gaps and total (p50 / p95, nearest rank), responses per stream, errors, timeouts."""
    ends = [s.end for s in streams]
    first = [s.first_response_s for s in streams if s.first_response_s is not None]
    gaps = [gap for s in streams for gap in s.gaps_s]
    totals = [s.total_s for s, end in zip(streams, ends) if end is StreamEnd.COMPLETE]
    counts = sorted(s.responses for s in streams)
    errors = list(dict.fromkeys(s.error for s in streams if s.error is not None))
    (first_p50, first_p95), (gap_p50, gap_p95), (total_p50, total_p95) = map(_ms_pair, (first, gaps, totals))
    return StreamSummary(
        streams=len(streams),
        completed=ends.count(StreamEnd.COMPLETE),
        errors=ends.count(StreamEnd.ERROR),
        timeouts=ends.count(StreamEnd.TIMEOUT),
        first_response_p50_ms=first_p50,
        first_response_p95_ms=first_p95,
        gap_p50_ms=gap_p50,
        gap_p95_ms=gap_p95,
        total_p50_ms=total_p50,
        total_p95_ms=total_p95,
        responses_min=counts[0] if counts else None,
        responses_p50=int(percentile(counts, 50)) if counts else None,
        responses_max=counts[-1] if counts else None,
        first_errors=tuple(errors[:3]),
    )


def joined_text(stream: StreamResult, output: str) -> str:
    """The text a token stream spells: the BYTES elements of ``output`` in every response, in order, joined
    as bytes and then decoded (a multi-byte character may be split across tokens). The output is named by
    the caller (from the model's config or a golden set), never guessed; a response without it, or with
    anything but bytes in it, raises ``InferenceError`` rather than reading as shorter text."""
    parts: list[bytes] = []
    for index, outputs in enumerate(stream.outputs):
        if output not in outputs:
            raise InferenceError(
                f"{stream.model}: response {index} of the stream has no output {output!r} (it has {sorted(outputs)})"
            )
        for element in outputs[output].reshape(-1).tolist():
            if not isinstance(element, bytes):
                raise InferenceError(
                    f"{stream.model}: output {output!r} of response {index} holds {type(element).__name__}, not BYTES"
                )
            parts.append(element)
    return b"".join(parts).decode("utf-8", errors="replace")

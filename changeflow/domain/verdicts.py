"""Verdicts: on a golden set (is every answer right?) and on a bake, in the style of Argo Rollouts
(evaluate one sample, then assess the series).

Verdicts are a closed set of outcomes, each with the reason a person reads on the change record. An
error while measuring (``ERROR``) is not a failure of the model (``FAIL``), and no data is not a pass.

A bake sample holds two views of the new version over one interval: Triton's own counters (all traffic;
blind to per-response errors: Triton 2.51 counts an error response as a success) and an active probe (golden requests sent by us, checked
for errors and correctness, as clients see them). Either view breaching a threshold fails the sample.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from changeflow.domain.golden import BoundGolden, Compare, OutputRule
from changeflow.domain.golden_text import TextMode, joined_bytes, joined_text, similarity
from changeflow.domain.percentiles import percentile
from changeflow.domain.stream_budgets import stream_budget_problems


class Outcome(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"
    ERROR = "ERROR"


class Verdict(BaseModel, frozen=True):
    outcome: Outcome
    reason: str = Field(min_length=1)

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASS

    def __str__(self) -> str:
        return f"{self.outcome.value}: {self.reason}"


class BakeThresholds(BaseModel, frozen=True):
    """The limits one bake sample and the series are held to. Governance's (``Verification.thresholds``
    and ``blue_green_thresholds`` in ``verification.yaml``): they decide a verdict, so they are signed with
    the bundle, never set by a request or the environment."""

    model_config = ConfigDict(extra="forbid")
    max_error_rate: float = Field(0.05, ge=0.0, le=1.0, description="failed / requests above this fails a sample")
    max_mean_latency_ms: float | None = Field(None, gt=0, description="server-side mean request latency budget")
    min_requests: int = Field(5, ge=1, description="fewer requests in a sample than this is inconclusive")
    failure_limit: int = Field(1, ge=0, description="the bake fails when more samples than this fail")
    consecutive_error_limit: int = Field(
        3, ge=0, description="the bake errors when more consecutive samples than this error"
    )


class MetricCheck(BaseModel, frozen=True):
    """One query asked at every bake sample; the sample fails when the value is above ``max_value`` and is
    inconclusive when the query has no data. ``{{model}}``, ``{{version}}`` and ``{{baseline}}`` in the
    query are replaced by the change's model, candidate version and the version it replaces. The check (its
    query and limit: a judgement) is governance's; ``provider`` names where it is asked, one of the
    environment's ``bake.providers`` (a URL and credentials: the operator's)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$")
    provider: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="a name under the environment's bake.providers",
    )
    query: str = Field(min_length=1, max_length=4096)
    max_value: float

    def rendered(self, model: str, version: int | None, baseline: int | None) -> str:
        values = {
            "model": model,
            "version": "" if version is None else str(version),
            "baseline": "" if baseline is None else str(baseline),
        }
        query = self.query
        for key, value in values.items():
            query = query.replace("{{" + key + "}}", value)
        return query


class BakeSample(BaseModel, frozen=True):
    """Deltas for the new version over one interval, or the error that prevented measuring them."""

    at_s: float
    server_requests: float = 0.0
    server_failures: float = 0.0
    server_duration_us: float = 0.0
    probe_requests: int = 0
    probe_failures: int = 0
    probe_problem: str = ""
    error: str | None = None


def _rate(failed: float, total: float) -> float:
    return failed / total if total else 0.0


def evaluate(sample: BakeSample, limits: BakeThresholds) -> Verdict:
    """The verdict on one sample, with the figures that decided it."""
    if sample.error:
        return Verdict(outcome=Outcome.ERROR, reason=f"measurement failed: {sample.error}")
    probe_rate = _rate(sample.probe_failures, sample.probe_requests)
    server_rate = _rate(sample.server_failures, sample.server_requests)
    if sample.probe_requests and probe_rate > limits.max_error_rate:
        detail = f" ({sample.probe_problem})" if sample.probe_problem else ""
        return Verdict(
            outcome=Outcome.FAIL,
            reason=f"probe error rate {probe_rate:.1%} > {limits.max_error_rate:.1%} ({sample.probe_failures} of {sample.probe_requests}){detail}",
        )
    if sample.server_requests >= limits.min_requests and server_rate > limits.max_error_rate:
        return Verdict(
            outcome=Outcome.FAIL,
            reason=f"server error rate {server_rate:.1%} > {limits.max_error_rate:.1%} ({sample.server_failures:.0f} of {sample.server_requests:.0f})",
        )
    if limits.max_mean_latency_ms and sample.server_requests >= limits.min_requests:
        mean_ms = sample.server_duration_us / sample.server_requests / 1000.0
        if mean_ms > limits.max_mean_latency_ms:
            return Verdict(
                outcome=Outcome.FAIL, reason=f"mean latency {mean_ms:.1f} ms > {limits.max_mean_latency_ms:.1f} ms"
            )
    total = sample.server_requests + sample.probe_requests
    if total < limits.min_requests:
        return Verdict(outcome=Outcome.INCONCLUSIVE, reason=f"{total:.0f} requests < {limits.min_requests} needed")
    return Verdict(
        outcome=Outcome.PASS, reason=f"error rate {max(probe_rate, server_rate):.1%} <= {limits.max_error_rate:.1%}"
    )


def evaluate_metric(name: str, value: float | None, max_value: float, error: str | None = None) -> Verdict:
    """One metric check of one sample: above ``max_value`` fails; no data (``None``) is inconclusive."""
    if error:
        return Verdict(outcome=Outcome.ERROR, reason=f"{name}: measurement failed: {error}")
    if value is None:
        return Verdict(outcome=Outcome.INCONCLUSIVE, reason=f"{name}: no data")
    if value > max_value:
        return Verdict(outcome=Outcome.FAIL, reason=f"{name} {value:.4g} > {max_value:.4g}")
    return Verdict(outcome=Outcome.PASS, reason=f"{name} {value:.4g} <= {max_value:.4g}")


_SEVERITY = (Outcome.FAIL, Outcome.ERROR, Outcome.INCONCLUSIVE, Outcome.PASS)


def worst(verdicts: Sequence[Verdict]) -> Verdict:
    """The most severe of one sample's verdicts (FAIL, then ERROR, then INCONCLUSIVE)."""
    return min(verdicts, key=lambda v: _SEVERITY.index(v.outcome))


def assess(verdicts: Sequence[Verdict], limits: BakeThresholds) -> Verdict:
    """The verdict on a series so far: FAIL beyond ``failure_limit``, ERROR beyond ``consecutive_error_limit``."""
    if not verdicts:
        return Verdict(outcome=Outcome.INCONCLUSIVE, reason="no samples")
    failed = [v for v in verdicts if v.outcome is Outcome.FAIL]
    if len(failed) > limits.failure_limit:
        return Verdict(outcome=Outcome.FAIL, reason=f"{failed[-1].reason} in {len(failed)} of {len(verdicts)} samples")
    streak = 0
    for verdict in verdicts:
        streak = streak + 1 if verdict.outcome is Outcome.ERROR else 0
        if streak > limits.consecutive_error_limit:
            return Verdict(
                outcome=Outcome.ERROR, reason=f"{streak} consecutive samples could not be measured: {verdict.reason}"
            )
    passed = sum(v.outcome is Outcome.PASS for v in verdicts)
    if passed == 0:
        return Verdict(
            outcome=Outcome.INCONCLUSIVE,
            reason=f"none of {len(verdicts)} samples could be judged (last: {verdicts[-1].reason})",
        )
    return Verdict(
        outcome=Outcome.PASS,
        reason=f"{passed} of {len(verdicts)} samples passed, {len(failed)} failed (limit {limits.failure_limit})",
    )


# --- the golden-set verdict ------------------------------------------------------------------------


class CaseObservation(BaseModel):
    """What one golden request gave: outputs (or the error), and its latency."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    outputs: dict[str, np.ndarray] = Field(default_factory=dict)
    error: str | None = None
    latency_ms: float = 0.0  # a stream's: its first response
    server: str = ""  # the server (replica) that answered
    streamed: bool = False  # the answer was a stream (a streaming model's), even of one response
    gaps_ms: tuple[float, ...] = ()  # a stream's gaps between responses (none for a unary answer)


def _differs(got: np.ndarray, want: np.ndarray, compare: Compare, rtol: float, atol: float) -> str | None:
    if compare is Compare.EXACT:
        if want.dtype == object:
            same = got.shape == want.shape and all(
                _raw(a) == _raw(b) for a, b in zip(got.reshape(-1), want.reshape(-1))
            )
        else:
            same = np.array_equal(got, want)
        return None if same else f"{_shown(got)} != expected {_shown(want)}"
    g, w = got.astype(np.float64), want.astype(np.float64)
    if np.allclose(g, w, rtol=rtol, atol=atol, equal_nan=True):  # a NaN the version answered before is the same answer
        return None
    deviation = float(np.nanmax(np.abs(g - w))) if g.size else 0.0
    return f"off by up to {deviation:.3g} (rtol {rtol:g}, atol {atol:g})"


def _shown(array: np.ndarray) -> str:
    return json.dumps(array.tolist(), default=lambda raw: raw.decode("utf-8", "replace"))[:200]


def _raw(item: Any) -> bytes:
    return item if isinstance(item, bytes) else str(item).encode("utf-8")


def _stream_differs(
    got: np.ndarray, want: np.ndarray, rule: tuple[Compare, float, float], text: OutputRule | None, versus: str
) -> str | None:
    """Two streams (responses stacked on the leading axis) compared: by the text rule when there is one;
    otherwise the number of responses first (a stream cut short is named as such, not as a shape), then
    response by response. ``versus`` joins the two figures (", expected" or " vs")."""
    if got.ndim == 0 or got.ndim != want.ndim:
        return f"shape {list(got.shape)}{versus} {list(want.shape)} (a stream stacks its responses on a leading axis)"
    if text is not None and text.text is TextMode.SIMILAR:
        score, wanted = similarity(joined_text(got), joined_text(want)), text.min_similarity
        if score >= wanted:
            return None
        return f"text similarity {score:.3f} < {wanted:g}: {_quoted(got)}{versus} {_quoted(want)}"
    if text is not None and text.text is TextMode.PREFIX:  # at least the first min_tokens, response by response
        if len(got) < (shared := text.min_tokens) or len(want) < shared:
            return f"{len(got)} responses{versus} {len(want)}; text: prefix compares the first {shared}"
        got, want = got[:shared], want[:shared]
    if len(got) != len(want):
        return f"{len(got)} responses{versus} {len(want)}"
    if got.shape != want.shape:
        return f"response shape {list(got.shape[1:])}{versus} {list(want.shape[1:])}"
    if text is not None and text.text is TextMode.EXACT:
        return None if joined_bytes(got) == joined_bytes(want) else f"text {_quoted(got)}{versus} {_quoted(want)}"
    for response, (one, other) in enumerate(zip(got, want)):
        if difference := _differs(one, other, *rule):
            return f"response {response}: {difference}"
    return None


def _quoted(stream: np.ndarray) -> str:
    return json.dumps(joined_text(stream))[:200]


def case_problems(bound: BoundGolden, index: int, seen: CaseObservation) -> list[str]:
    """Everything wrong with one case's answer, each naming the case and the output; empty when right. A
    decoupled model's outputs are streams (see ``_stream_differs``)."""
    if seen.error:
        return [f"case {index}: request failed: {seen.error}"]
    problems = []
    for spec in bound.signature.outputs:
        compare, rtol, atol = bound.rules[spec.name]
        if compare is Compare.SKIP:
            continue
        got, want = seen.outputs.get(spec.name), bound.expected[index][spec.name]
        if got is None:
            problems.append(f"case {index}: output {spec.name} missing from the answer")
            continue
        if got.dtype != want.dtype and not (want.dtype == object and got.dtype.kind in "OSU"):
            problems.append(f"case {index}: {spec.name} dtype {got.dtype}, expected {want.dtype} ({spec.datatype})")
            continue
        if bound.signature.decoupled:
            if difference := _stream_differs(
                got, want, bound.rules[spec.name], bound.text_rules.get(spec.name), ", expected"
            ):
                problems.append(f"case {index}: {spec.name} {difference}")
            continue
        if got.shape != want.shape:
            problems.append(f"case {index}: {spec.name} shape {list(got.shape)}, expected {list(want.shape)}")
            continue
        if difference := _differs(got, want, compare, rtol, atol):
            problems.append(f"case {index}: {spec.name} {difference}")
    return problems


def disagreement(bound: BoundGolden, index: int, new: CaseObservation, old: CaseObservation) -> str | None:
    """Where two versions' answers to one golden case differ beyond the golden set's tolerances (the
    old version's answer in place of the expected one; for streams, the first differing response or the
    text rule); None when they agree or either failed."""
    if new.error or old.error:
        return None
    for spec in bound.signature.outputs:
        compare, rtol, atol = bound.rules[spec.name]
        got, want = new.outputs.get(spec.name), old.outputs.get(spec.name)
        if compare is Compare.SKIP or got is None or want is None:
            continue
        if bound.signature.decoupled:
            if difference := _stream_differs(got, want, bound.rules[spec.name], bound.text_rules.get(spec.name), " vs"):
                return f"case {index}: {spec.name} {difference}"
            continue
        if got.shape != want.shape:
            return f"case {index}: {spec.name} shape {list(got.shape)} vs {list(want.shape)}"
        if difference := _differs(got, want, compare, rtol, atol):
            return f"case {index}: {spec.name} {difference}"
    return None


def assess_golden(
    bound: BoundGolden, observations: Mapping[int, CaseObservation] | Sequence[CaseObservation]
) -> Verdict:
    """PASS when every case is right and p95 latency is within budget; FAIL otherwise, with the first problems."""
    seen = dict(enumerate(observations)) if isinstance(observations, Sequence) else dict(observations)
    total = len(bound)
    if len(seen) != total:
        return Verdict(outcome=Outcome.INCONCLUSIVE, reason=f"{len(seen)} of {total} golden cases observed")
    wrong = {i: p for i in sorted(seen) if (p := case_problems(bound, i, seen[i]))}
    if wrong:
        first = "; ".join(p for problems in list(wrong.values())[:3] for p in problems[:1])
        return Verdict(outcome=Outcome.FAIL, reason=f"{len(wrong)} of {total} golden cases wrong: {first}")
    budget = bound.golden.latency_budget_ms.get("p95")
    p95 = percentile([o.latency_ms for o in seen.values()], 95)
    if budget is not None and p95 > budget:
        return Verdict(outcome=Outcome.FAIL, reason=f"p95 latency {p95:.1f} ms > budget {budget:.1f} ms")
    exceeded, unmeasured = stream_budget_problems(
        bound.golden.latency_budget_ms,
        [o.latency_ms for o in seen.values()],
        [gap for o in seen.values() for gap in o.gaps_ms],
    )
    if exceeded or unmeasured:
        outcome = Outcome.FAIL if exceeded else Outcome.INCONCLUSIVE
        return Verdict(
            outcome=outcome, reason=f"{total} of {total} golden cases right, but " + "; ".join(exceeded + unmeasured)
        )
    within = f", p95 latency {p95:.1f} ms <= {budget:.1f} ms" if budget is not None else ""
    return Verdict(outcome=Outcome.PASS, reason=f"{total} of {total} golden cases right{within}")

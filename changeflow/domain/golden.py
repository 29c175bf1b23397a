"""Golden-set validation: known inputs, expected outputs, tolerances, schema and a latency budget.

Pure: the caller sends the requests and hands over what came back; this decides PASS or FAIL, why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from changeflow.domain.verdicts import Outcome, Verdict

Datatype = Literal["FP32", "FP64", "INT32", "INT64", "BOOL"]
NUMPY_DTYPES: dict[str, str] = {"FP32": "float32", "FP64": "float64", "INT32": "int32", "INT64": "int64", "BOOL": "bool"}


class TensorSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    datatype: Datatype
    shape: list[int]


class InputSpec(TensorSpec):
    name: str


class GoldenCase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: list[float]
    expected: dict[str, list[float]]


class GoldenSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str
    description: str = ""
    input: InputSpec
    outputs: dict[str, TensorSpec]
    tolerance: dict[str, float] = Field(default_factory=dict)
    exact: list[str] = Field(default_factory=list)
    latency_budget_ms: dict[Literal["p95"], float] = Field(default_factory=dict)
    classes: list[str] = Field(default_factory=list)
    cases: list[GoldenCase] = Field(min_length=1)

    def batch(self, index: int) -> np.ndarray:
        """Case ``index`` as a batch of one, in the input's dtype."""
        return np.asarray([self.cases[index].input], dtype=NUMPY_DTYPES[self.input.datatype])


class CaseObservation(BaseModel):
    """What one golden request gave: outputs (or the error), and its latency."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    outputs: dict[str, np.ndarray] = Field(default_factory=dict)
    error: str | None = None
    latency_ms: float = 0.0


def case_problems(golden: GoldenSet, index: int, seen: CaseObservation) -> list[str]:
    """Everything wrong with one case's answer; empty when it is right."""
    if seen.error:
        return [f"case {index}: request failed: {seen.error}"]
    problems = []
    expected = golden.cases[index].expected
    for name, spec in golden.outputs.items():
        array = seen.outputs.get(name)
        if array is None:
            problems.append(f"case {index}: output {name} missing")
            continue
        if str(array.dtype) != NUMPY_DTYPES[spec.datatype]:
            problems.append(f"case {index}: {name} dtype {array.dtype}, expected {NUMPY_DTYPES[spec.datatype]}")
        if list(array.shape[1:]) != spec.shape:
            problems.append(f"case {index}: {name} shape {list(array.shape[1:])}, expected {spec.shape}")
            continue
        if name not in expected:
            continue
        want = np.asarray(expected[name], dtype=np.float64)
        got = array.reshape(-1).astype(np.float64)
        if name in golden.exact and not np.array_equal(got, want):
            problems.append(f"case {index}: {name} {got.tolist()} != expected {want.tolist()}")
        elif name in golden.tolerance and (deviation := float(np.max(np.abs(got - want)))) > golden.tolerance[name]:
            problems.append(f"case {index}: {name} off by {deviation:.3g} > tolerance {golden.tolerance[name]}")
    return problems


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


def assess_golden(golden: GoldenSet, observations: Mapping[int, CaseObservation] | Sequence[CaseObservation]) -> Verdict:
    """PASS when every case is right and p95 latency is within budget; FAIL otherwise, with the first problems."""
    seen = dict(enumerate(observations)) if isinstance(observations, Sequence) else dict(observations)
    if len(seen) != len(golden.cases):
        return Verdict(outcome=Outcome.INCONCLUSIVE, reason=f"{len(seen)} of {len(golden.cases)} golden cases observed")
    wrong = {i: p for i in sorted(seen) if (p := case_problems(golden, i, seen[i]))}
    if wrong:
        first = "; ".join(p for problems in list(wrong.values())[:3] for p in problems[:1])
        return Verdict(outcome=Outcome.FAIL, reason=f"{len(wrong)} of {len(golden.cases)} golden cases wrong: {first}")
    budget = golden.latency_budget_ms.get("p95")
    p95 = percentile([o.latency_ms for o in seen.values()], 95)
    if budget is not None and p95 > budget:
        return Verdict(outcome=Outcome.FAIL, reason=f"p95 latency {p95:.1f} ms > budget {budget:.1f} ms")
    within = f", p95 latency {p95:.1f} ms <= {budget:.1f} ms" if budget is not None else ""
    return Verdict(outcome=Outcome.PASS, reason=f"{len(golden.cases)} of {len(golden.cases)} golden cases right{within}")

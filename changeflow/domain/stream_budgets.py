"""A golden set's time budgets for a streaming model, checked in staging's validation (pure: no I/O).

A user of a generative model waits for its first response and then reads at the pace of the rest, so a
golden set of a decoupled model may bound both at the client: ``first_response_p95`` (the p95 of each case's
time to its first response) and ``gap_p95`` (the p95 of every gap between two responses, over every case).
``p95`` keeps meaning a request's latency, which for a stream is its first response. A budget no answer can
be measured against (a unary model, or streams that never answered twice) is not a pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from changeflow.domain.percentiles import percentile

STREAM_BUDGETS = ("first_response_p95", "gap_p95")


def unusable_budgets(budgets: Mapping[str, float], decoupled: bool) -> list[str]:
    """The stream budgets a golden set names for a model that does not stream (nothing to measure them on)."""
    return [] if decoupled else [name for name in STREAM_BUDGETS if name in budgets]


def stream_budget_problems(
    budgets: Mapping[str, float], first_responses_ms: Sequence[float], gaps_ms: Sequence[float]
) -> tuple[list[str], list[str]]:
    """(budgets exceeded, budgets that could not be measured), each a line naming the figure and the budget."""
    exceeded, unmeasured = [], []
    for name, seen in (("first_response_p95", first_responses_ms), ("gap_p95", gaps_ms)):
        budget = budgets.get(name)
        if budget is None:
            continue
        if not seen:
            unmeasured.append(
                f"{name}: no {name.removesuffix('_p95').replace('_', ' ')} observed to hold to {budget:g} ms"
            )
            continue
        p95 = percentile(seen, 95)
        if not p95 <= budget:  # a NaN figure is not within any budget
            exceeded.append(f"{name} {p95:.1f} ms > budget {budget:.1f} ms")
    return exceeded, unmeasured

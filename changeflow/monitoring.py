"""Watch a freshly promoted version: golden probes plus Triton's counters, sampled over a bake.

I/O through the ports only; the verdicts come from ``domain.analysis``. Stops early on a FAIL (or
too many measurement errors), so a bad version is caught in seconds, not at the end of the bake.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pydantic import BaseModel

from changeflow.domain.analysis import BakeSample, BakeThresholds, assess, evaluate
from changeflow.domain.golden import GoldenSet, case_problems
from changeflow.domain.verdict import Outcome, Verdict
from changeflow.exceptions import ChangeCancelled, ServerError
from changeflow.ports import MetricSource, ModelServer
from changeflow.probes import observe_case


class BakeReport(BaseModel):
    verdict: Verdict
    samples: list[BakeSample]
    verdicts: list[Verdict]
    elapsed_s: float


def request_rate(metrics: MetricSource, model: str, window_s: float = 1.0, sleep: Callable[[float], None] = time.sleep) -> float:
    """Requests per second to all versions of ``model`` over ``window_s``, from two scrapes."""
    first = metrics.scrape()
    sleep(window_s)
    second = metrics.scrape()

    def total(snapshot):
        return sum(c.requests for c in snapshot.counters if c.model == model)

    elapsed = max(second.taken_at - first.taken_at, 1e-6)
    return max(0.0, total(second) - total(first)) / elapsed


def probe(server: ModelServer, golden: GoldenSet, count: int, expect_version: int | None, offset: int = 0) -> tuple[int, str]:
    """Send ``count`` golden requests unversioned; (failures, first problem) as clients see them.

    With ``expect_version``, an answer from another version is a failure too.
    """
    failures, first = 0, ""
    for i in range(count):
        index = (offset + i) % len(golden.cases)
        seen, answered_by = observe_case(server, golden, index)
        problems = case_problems(golden, index, seen)
        if not problems and expect_version is not None and answered_by != expect_version:
            problems = [f"case {index}: answered by v{answered_by}, expected v{expect_version}"]
        if problems:
            failures += 1
            first = first or problems[0]
    return failures, first


def bake(
    server: ModelServer,
    metrics: MetricSource,
    golden: GoldenSet,
    version: int,
    seconds: float,
    interval_s: float,
    probes_per_sample: int,
    limits: BakeThresholds,
    cancelled: Callable[[], str | None] = lambda: None,
    on_sample: Callable[[BakeSample, Verdict], None] = lambda sample, verdict: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> BakeReport:
    model = golden.model
    start = clock()
    previous = metrics.scrape().for_version(model, version)
    samples: list[BakeSample] = []
    verdicts: list[Verdict] = []
    overall = Verdict(outcome=Outcome.INCONCLUSIVE, reason="no samples")
    while True:
        tick = clock()
        reason = cancelled()
        if reason:
            raise ChangeCancelled(reason)
        try:
            failures, problem = probe(server, golden, probes_per_sample, version, offset=len(samples) * probes_per_sample)
            now = metrics.scrape().for_version(model, version)
            sample = BakeSample(
                at_s=clock() - start,
                server_requests=now.requests - previous.requests,
                server_failures=now.failure - previous.failure,
                server_duration_us=now.request_duration_us - previous.request_duration_us,
                probe_requests=probes_per_sample,
                probe_failures=failures,
                probe_problem=problem,
            )
            previous = now
        except ServerError as exc:
            sample = BakeSample(at_s=clock() - start, error=str(exc))
        verdict = evaluate(sample, limits)
        samples.append(sample)
        verdicts.append(verdict)
        on_sample(sample, verdict)
        overall = assess(verdicts, limits)
        if overall.outcome in (Outcome.FAIL, Outcome.ERROR) or clock() - start >= seconds:
            break
        sleep(max(0.0, interval_s - (clock() - tick)))
    return BakeReport(verdict=overall, samples=samples, verdicts=verdicts, elapsed_s=clock() - start)

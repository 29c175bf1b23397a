"""How a version is checked on a live server: golden requests (validation, smoke tests, probes) and the
bake loop that watches a freshly promoted version. Every request comes from a golden set bound to the
model's config (``services.golden``): nothing here knows a tensor's name, datatype or shape.

I/O through the ports only; the verdicts come from ``domain.verdicts``. The bake
stops early on a FAIL (or too many measurement errors), so a bad version is caught in seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pydantic import BaseModel

from changeflow.domain.golden import BoundGolden
from changeflow.domain.verdicts import BakeSample, BakeThresholds, CaseObservation, Outcome, Verdict, assess, case_problems, evaluate
from changeflow.exceptions import ChangeCancelled, InferenceError, ServerError
from changeflow.ports import MetricSource, ModelServer


def observe_case(server: ModelServer, golden: BoundGolden, index: int, version: int | None = None) -> tuple[CaseObservation, int | None]:
    """One golden case sent once: what came back (an error answer is observed) and which version answered."""
    try:
        result = server.infer(golden.model, golden.requests[index], version=version, datatypes=golden.datatypes)
    except InferenceError as exc:
        return CaseObservation(error=str(exc)), None
    return CaseObservation(outputs=dict(result.outputs), latency_ms=result.latency_ms), result.model_version


def observe_golden(server: ModelServer, golden: BoundGolden, version: int | None = None) -> list[CaseObservation]:
    """Each golden case sent once; a request the server answers with an error is observed, not raised.

    Connection failures (``ServerUnavailable``) do raise: they are an error measuring, not a model fault.
    """
    return [observe_case(server, golden, index, version)[0] for index in range(len(golden))]


def probe(server: ModelServer, golden: BoundGolden, count: int, expect_version: int | None, offset: int = 0) -> tuple[int, str]:
    """Send ``count`` golden requests unversioned; (failures, first problem) as clients see them.

    With ``expect_version``, an answer from another version is a failure too.
    """
    failures, first = 0, ""
    for i in range(count):
        index = (offset + i) % len(golden)
        seen, answered_by = observe_case(server, golden, index)
        problems = case_problems(golden, index, seen)
        if not problems and expect_version is not None and answered_by != expect_version:
            problems = [f"case {index}: answered by v{answered_by}, expected v{expect_version}"]
        if problems:
            failures += 1
            first = first or problems[0]
    return failures, first


def smoke_verdict(server: ModelServer, golden: BoundGolden, count: int, version: int | None, target: str) -> Verdict:
    failures, problem = probe(server, golden, count, version)
    if failures:
        return Verdict(outcome=Outcome.FAIL, reason=f"{failures} of {count} smoke requests failed: {problem}")
    by = f" by v{version}" if version is not None else ""
    return Verdict(outcome=Outcome.PASS, reason=f"{count} of {count} smoke requests to {target} answered right{by}")


def request_rate(metrics: MetricSource, model: str, window_s: float = 1.0, sleep: Callable[[float], None] = time.sleep) -> float:
    """Requests per second to all versions of ``model`` over ``window_s``, from two scrapes."""
    first = metrics.scrape()
    sleep(window_s)
    second = metrics.scrape()

    def total(snapshot):
        return sum(c.requests for c in snapshot.counters if c.model == model)

    elapsed = max(second.taken_at - first.taken_at, 1e-6)
    return max(0.0, total(second) - total(first)) / elapsed


class BakeReport(BaseModel):
    verdict: Verdict
    samples: list[BakeSample]
    verdicts: list[Verdict]
    elapsed_s: float


def bake(
    server: ModelServer,
    metrics: MetricSource | None,
    golden: BoundGolden,
    version: int | None,
    seconds: float,
    interval_s: float,
    probes_per_sample: int,
    limits: BakeThresholds,
    cancelled: Callable[[], str | None] = lambda: None,
    on_sample: Callable[[BakeSample, Verdict], None] = lambda sample, verdict: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> BakeReport:
    """Sample the served version every ``interval_s`` for ``seconds``: golden probes, plus the server's
    counters for ``version`` when ``metrics`` is given (without them, e.g. behind a Service, probes only)."""
    model = golden.model
    counted = metrics is not None and version is not None
    start = clock()
    previous = metrics.scrape().for_version(model, version) if counted else None  # no baseline: the step fails
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
            sample = BakeSample(at_s=clock() - start, probe_requests=probes_per_sample, probe_failures=failures, probe_problem=problem)
            if counted:
                now = metrics.scrape().for_version(model, version)
                sample = sample.model_copy(update=dict(
                    server_requests=now.requests - previous.requests,
                    server_failures=now.failure - previous.failure,
                    server_duration_us=now.request_duration_us - previous.request_duration_us,
                ))
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

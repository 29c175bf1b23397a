"""The bake: watch a freshly promoted version on production, and compare it with the one it replaces.

Every ``interval_s``, one sample:

- golden probes sent as clients send them (unversioned, answered by the candidate) and, interleaved in
  alternating order, the same inputs sent to the old version by number (still loaded beside it: warm
  standby). Each side's errors and latencies, and whether the two answers differ beyond the golden
  tolerances, accumulate into ``PairedObservations`` for ``domain.comparison``; for a streaming model the
  latency is the time to the first response, each stream adds its median gap between responses, and a
  stream that broke or did not end is an error (``ModelServer.infer`` raises it);
- Triton's counters for the candidate (when ``metrics`` is given), against the fixed thresholds;
- any metric checks on other providers (Prometheus: a gateway's client-side error rate).

It stops at the first FAIL or ERROR (a bad version is caught in seconds). A sample the candidate fails
while the old version answered the same probes without an error fails the bake at once: the old version
is the control that rules out a shared cause, so there is no need to wait for ``failure_limit``. When the time is up, it
concludes: PASS only when the thresholds and the comparison both pass; too few paired answers is
INCONCLUSIVE (no data is not a pass). Without a baseline (no warm standby, or a Service in front of
several servers) the thresholds alone judge and the verdict says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from pydantic import BaseModel, Field

from changeflow.domain.comparison import (
    Comparison,
    ComparisonThresholds,
    PairedObservations,
    VersionObservations,
    compare,
    failed_beside_a_healthy_baseline,
    pace_ms,
)
from changeflow.domain.golden import BoundGolden
from changeflow.domain.verdicts import (
    BakeSample,
    BakeThresholds,
    CaseObservation,
    MetricCheck,
    Outcome,
    Verdict,
    assess,
    case_problems,
    disagreement,
    evaluate,
    evaluate_metric,
    worst,
)
from changeflow.exceptions import ChangeCancelled, NoMetricData, ServerError
from changeflow.ports import MetricProvider, MetricSource, ModelServer
from changeflow.services.verification import observe_case, replica_of


class BakeReport(BaseModel):
    verdict: Verdict
    samples: list[BakeSample]
    verdicts: list[Verdict]
    comparison: Comparison | None = None
    observed: PairedObservations | None = None
    elapsed_s: float


class _Timings(BaseModel):
    """One side's successful answers in a sample: their latencies and, for streams, how many and each
    one's median gap between responses."""

    latencies: list[float] = []
    streams: int = 0
    gaps: list[float] = []

    def add(self, seen: CaseObservation) -> None:
        self.latencies.append(seen.latency_ms)
        if seen.streamed:
            self.streams += 1
            if (gap := pace_ms(seen.gaps_ms)) is not None:
                self.gaps.append(gap)

    def added_to(self, observations: VersionObservations, errors: int) -> VersionObservations:
        return observations.plus(self.latencies, errors, self.streams, self.gaps)


class _Round(BaseModel):
    """One sample's paired probes."""

    failures: int = 0
    problem: str = ""
    new: _Timings = Field(default_factory=_Timings)
    old: _Timings = Field(default_factory=_Timings)
    old_errors: int = 0
    compared: int = 0
    disagreements: int = 0
    first_disagreement: str = ""


def paired_probe(
    server: ModelServer, golden: BoundGolden, count: int, version: int | None, baseline: int | None, offset: int
) -> _Round:
    """``count`` golden requests to the candidate as clients send them (an answer from another version
    than ``version`` is a failure) and, when ``baseline`` is given, the same to the baseline by number,
    in alternating order so neither side always goes first."""
    seen = _Round()
    for i in range(count):
        index = (offset + i) % len(golden)
        if baseline is not None and i % 2:
            old, _ = observe_case(server, golden, index, baseline)
            new, answered_by = observe_case(server, golden, index)
        else:
            new, answered_by = observe_case(server, golden, index)
            old = observe_case(server, golden, index, baseline)[0] if baseline is not None else None
        problems = case_problems(golden, index, new)
        if not problems and version is not None and answered_by != version:
            problems = [f"case {index}: answered by v{answered_by}, expected v{version}"]
        if problems:
            seen.failures += 1
            seen.problem = seen.problem or problems[0] + replica_of(server, new)
        else:
            seen.new.add(new)
        if old is None:
            continue
        if case_problems(golden, index, old):
            seen.old_errors += 1
        else:
            seen.old.add(old)
        if not problems and not old.error:
            seen.compared += 1
            if differs := disagreement(golden, index, new, old):
                seen.disagreements += 1
                seen.first_disagreement = seen.first_disagreement or differs
    return seen


def _observed(paired: PairedObservations, seen: _Round) -> PairedObservations:
    return paired.model_copy(
        update={
            "candidate": seen.new.added_to(paired.candidate, seen.failures),
            "baseline": seen.old.added_to(paired.baseline, seen.old_errors),
            "compared": paired.compared + seen.compared,
            "disagreements": paired.disagreements + seen.disagreements,
            "first_disagreement": paired.first_disagreement or seen.first_disagreement,
        }
    )


def check_metrics(
    checks: Sequence[tuple[MetricCheck, MetricProvider]], model: str, version: int | None, baseline: int | None
) -> list[Verdict]:
    verdicts = []
    for check, provider in checks:
        try:
            value, error = provider.query(check.rendered(model, version, baseline)), None
        except NoMetricData:
            value, error = None, None
        except ServerError as exc:
            value, error = None, str(exc)
        verdicts.append(evaluate_metric(check.name, value, check.max_value, error))
    return verdicts


def conclude(thresholds: Verdict, comparison: Comparison | None) -> Verdict:
    """The bake's verdict from the series' and the comparison's: a FAIL or ERROR of either decides, then
    an INCONCLUSIVE of either; PASS needs both."""
    if comparison is None:
        if thresholds.passed:
            return Verdict(
                outcome=Outcome.PASS, reason=f"{thresholds.reason}; not compared: no baseline version loaded beside it"
            )
        return thresholds
    for outcome in (Outcome.FAIL, Outcome.ERROR, Outcome.INCONCLUSIVE):
        if thresholds.outcome is outcome:
            return thresholds
        if comparison.verdict.outcome is outcome:
            return comparison.verdict
    return Verdict(
        outcome=Outcome.PASS, reason=f"{thresholds.reason}; against the old version: {comparison.verdict.reason}"
    )


def bake_evidence(report: BakeReport) -> list[str]:
    """What a person deciding on a doubtful bake reads: each comparison question, and the samples."""
    lines = [f"{name}: {verdict}" for name, verdict in (report.comparison.checks.items() if report.comparison else [])]
    failed = sum(v.outcome is Outcome.FAIL for v in report.verdicts)
    lines.append(f"{len(report.samples)} samples over {report.elapsed_s:.1f}s, {failed} failed the thresholds")
    return lines


def bake(
    server: ModelServer,
    metrics: MetricSource | None,
    golden: BoundGolden,
    version: int | None,
    seconds: float,
    interval_s: float,
    probes_per_sample: int,
    limits: BakeThresholds,
    baseline: int | None = None,
    comparison: ComparisonThresholds = ComparisonThresholds(),
    checks: Sequence[tuple[MetricCheck, MetricProvider]] = (),
    cancelled: Callable[[], str | None] = lambda: None,
    on_sample: Callable[[BakeSample, Verdict], None] = lambda sample, verdict: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> BakeReport:
    """Sample every ``interval_s`` for ``seconds`` (see the module docstring); ``baseline`` is the old
    version to compare with, when it is loaded beside ``version``."""
    model = golden.model
    counted = metrics is not None and version is not None
    start = clock()
    previous = metrics.scrape().for_version(model, version) if counted else None  # no baseline: the step fails
    paired = (
        PairedObservations(
            baseline=VersionObservations(version=baseline), candidate=VersionObservations(version=version)
        )
        if baseline is not None
        else None
    )
    samples: list[BakeSample] = []
    verdicts: list[Verdict] = []
    judged: Comparison | None = None
    while True:
        tick = clock()
        if reason := cancelled():
            raise ChangeCancelled(reason)
        try:
            seen = paired_probe(
                server, golden, probes_per_sample, version, baseline, offset=len(samples) * probes_per_sample
            )
            sample = BakeSample(
                at_s=clock() - start,
                probe_requests=probes_per_sample,
                probe_failures=seen.failures,
                probe_problem=seen.problem,
            )
            if counted:
                now = metrics.scrape().for_version(model, version)
                sample = sample.model_copy(
                    update=dict(
                        server_requests=now.requests - previous.requests,
                        server_failures=now.failure - previous.failure,
                        server_duration_us=now.request_duration_us - previous.request_duration_us,
                    )
                )
                previous = now
            if paired is not None:
                paired = _observed(paired, seen)
        except ServerError as exc:
            sample = BakeSample(at_s=clock() - start, error=str(exc))
        verdict = worst([evaluate(sample, limits), *check_metrics(checks, model, version, baseline)])
        samples.append(sample)
        verdicts.append(verdict)
        on_sample(sample, verdict)
        judged = compare(paired, comparison) if paired is not None else None
        overall = assess(verdicts, limits)
        if paired is not None and sample.error is None and overall.outcome is not Outcome.FAIL:
            overall = failed_beside_a_healthy_baseline(sample, limits, baseline, seen.old_errors) or overall
        if (
            overall.outcome in (Outcome.FAIL, Outcome.ERROR)
            or (judged and judged.verdict.outcome is Outcome.FAIL)
            or clock() - start >= seconds
        ):
            break
        sleep(max(0.0, interval_s - (clock() - tick)))
    return BakeReport(
        verdict=conclude(overall, judged),
        samples=samples,
        verdicts=verdicts,
        comparison=judged,
        observed=paired,
        elapsed_s=clock() - start,
    )

"""The baseline-versus-candidate judge: is the new version worse than the one it replaces?

Kayenta's idea (compare canary with baseline, Mann-Whitney U, an effect size that matters) on paired
probes: the same golden inputs sent, interleaved, to the candidate and to the old version still loaded
beside it. Three questions (four for a streaming model), each a verdict with its figures:

- latency: the candidate's latencies are stochastically larger (one-sided Mann-Whitney U, p below
  ``1 - latency_confidence``) **and** its p50 is at least ``latency_effect`` higher (a significant 3 % is not
  a regression; a large shift on three samples is not evidence). The old version is probed at the same
  moments, so load that comes and goes hits both; but it is idle while the candidate carries the traffic,
  and on a contended CPU that alone made healthy candidates look 25-50 % slower (measured, bench/detect.py):
  hence the stricter 0.999 and +30 % for latency. For a streaming (decoupled) model the latency is the time
  to the first response, and the reason says "first response";
- gaps (streaming models only): the same test on each stream's median gap between responses, the pace a
  user of a generative model reads at, which a first response that stays fast does not show. Asked when
  either version's streams had gaps (two responses or more): a unary model's comparison keeps its three
  questions, and a candidate whose streams lost their gaps is INCONCLUSIVE here, never a pass;
- errors: its error share is higher by a one-sided two-proportion z-test **and** by at least
  ``min_error_rise`` (absolute), so 0.1 % → 3 % fails and 0 → 1 error in 40 does not;
- outputs: the share of probes where the two versions' answers differ beyond the golden tolerances is
  over ``max_disagreement`` (``None``: measured and shown, not judged: a retrained model differs).

Fewer than ``min_samples`` per version is ``INCONCLUSIVE``: no data is not a pass (Kayenta and Harness
pass on missing data; spinnaker #5622), and neither is a figure that is not a number (a NaN makes the
U-test's p NaN, which no threshold rejects). The bake asks at every sample (repeated looks), so the default
confidences are stricter than Kayenta's single look (0.99 for errors, 0.999 for latency, not 0.98) and the
effect sizes carry the rest.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from changeflow.domain.request import ChangeType
from changeflow.domain.streams import StreamResult
from changeflow.domain.verdicts import BakeSample, BakeThresholds, MetricCheck, Outcome, Verdict, evaluate, percentile
from changeflow.domain.waves import CANARY_FIRST, EVERYWHERE, Waves


class ComparisonThresholds(BaseModel, frozen=True):
    model_config = ConfigDict(extra="forbid")
    confidence: float = Field(
        0.99, gt=0.5, lt=1.0, description="1 - p below which an error rise is significant (per look)"
    )
    latency_confidence: float = Field(
        0.999, gt=0.5, lt=1.0, description="1 - p below which a latency shift is significant (per look)"
    )
    min_samples: int = Field(40, ge=5, le=1_000_000, description="answers needed from each version before judging")
    latency_effect: float = Field(
        0.3, gt=0.0, le=10.0, description="relative p50 rise that is a regression (0.3: +30 %)"
    )
    min_error_rise: float = Field(
        0.01, ge=0.0, le=1.0, description="absolute rise of the error share that is a regression"
    )
    max_disagreement: float | None = Field(
        None, ge=0.0, le=1.0, description="share of probes whose outputs may differ; None: not judged"
    )


def pace_ms(gaps_ms: Sequence[float]) -> float | None:
    """One stream's pace as one figure: the median of its gaps between responses, in ms (a stream's tokens
    are not independent samples, so each stream counts once). None with fewer than two responses."""
    return statistics.median(gaps_ms) if gaps_ms else None


def median_gap_ms(stream: StreamResult) -> float | None:
    """``pace_ms`` of a stream as its client saw it."""
    return pace_ms(stream.gaps_ms)


class VersionObservations(BaseModel, frozen=True):
    """What one version's answers to the paired probes were: latencies of the successful ones, errors;
    for a streaming model, how many successful answers were streams and each one's median gap
    (``median_gap_ms``, streams of two responses or more)."""

    version: int
    latencies_ms: tuple[float, ...] = ()
    errors: int = Field(0, ge=0)
    streams: int = Field(0, ge=0)
    gaps_ms: tuple[float, ...] = ()

    @property
    def requests(self) -> int:
        return len(self.latencies_ms) + self.errors

    def plus(
        self, latencies_ms: Sequence[float], errors: int, streams: int = 0, gaps_ms: Sequence[float] = ()
    ) -> VersionObservations:
        return self.model_copy(
            update={
                "latencies_ms": (*self.latencies_ms, *latencies_ms),
                "errors": self.errors + errors,
                "streams": self.streams + streams,
                "gaps_ms": (*self.gaps_ms, *gaps_ms),
            }
        )


class PairedObservations(BaseModel, frozen=True):
    """Both versions' answers to the same probes, and how often their outputs disagreed."""

    baseline: VersionObservations
    candidate: VersionObservations
    compared: int = Field(0, ge=0, description="probes both versions answered")
    disagreements: int = Field(0, ge=0)
    first_disagreement: str = ""


class Comparison(BaseModel, frozen=True):
    """The overall verdict and the one per question (``latency``, ``errors``, ``outputs``, and ``gaps`` for
    streams)."""

    verdict: Verdict
    checks: dict[str, Verdict]


def _shift(new: float, old: float) -> float:
    return (new - old) / old if old > 0 else (math.inf if new > 0 else 0.0)


def _judge_slowdown(
    question: str, slower: str, counted: str, new: Sequence[float], old: Sequence[float], limits: ComparisonThresholds
) -> Verdict:
    """One-sided: FAIL only when ``new`` is significantly larger (U-test) **and** its p50 at least
    ``latency_effect`` higher; ``slower`` leads a FAIL's reason, ``question`` the others'."""
    if min(len(new), len(old)) < limits.min_samples:
        return Verdict(
            outcome=Outcome.INCONCLUSIVE,
            reason=f"{question}: {len(new)} and {len(old)} {counted}, {limits.min_samples} needed from each",
        )
    not_numbers = sum(not math.isfinite(x) for x in (*new, *old))
    if not_numbers:
        return Verdict(
            outcome=Outcome.INCONCLUSIVE,
            reason=f"{question}: {not_numbers} of {len(new) + len(old)} figures not a number, nothing to compare",
        )
    p50, p95 = (percentile(new, q) for q in (50, 95))
    b50, b95 = (percentile(old, q) for q in (50, 95))
    from scipy import stats  # here, not at import: every command line imports the kinds, few judge (~1.5 s)

    p_value = float(stats.mannwhitneyu(new, old, alternative="greater").pvalue)
    figures = f"p50 {p50:.2f} ms vs {b50:.2f} ms ({_shift(p50, b50):+.0%}), p95 {p95:.2f} ms vs {b95:.2f} ms ({_shift(p95, b95):+.0%}), U-test p={p_value:.2g}"
    if math.isnan(p_value):
        return Verdict(outcome=Outcome.INCONCLUSIVE, reason=f"{question}: {figures}, no test result")
    if p_value < 1.0 - limits.latency_confidence and _shift(p50, b50) >= limits.latency_effect:
        return Verdict(outcome=Outcome.FAIL, reason=f"{slower}: {figures}")
    return Verdict(outcome=Outcome.PASS, reason=f"{question}: {figures}")


def _streamed(seen: PairedObservations) -> bool:
    return bool(seen.baseline.streams or seen.candidate.streams)


def judge_latency(seen: PairedObservations, limits: ComparisonThresholds) -> Verdict:
    """Latency, or for streams the time to the first response (what a generative model's user waits for)."""
    old, new = seen.baseline, seen.candidate
    if _streamed(seen):
        question, slower = "first response", f"v{new.version}'s first response slower than v{old.version}'s"
    else:
        question, slower = "latency", f"v{new.version} slower than v{old.version}"
    return _judge_slowdown(question, slower, "answers", new.latencies_ms, old.latencies_ms, limits)


def judge_gaps(seen: PairedObservations, limits: ComparisonThresholds) -> Verdict:
    """The gaps between a stream's responses, judged like latency on each stream's median gap."""
    old, new = seen.baseline, seen.candidate
    return _judge_slowdown(
        "gaps",
        f"v{new.version}'s gaps between responses longer than v{old.version}'s",
        "streams with gaps",
        new.gaps_ms,
        old.gaps_ms,
        limits,
    )


def judge_errors(seen: PairedObservations, limits: ComparisonThresholds) -> Verdict:
    old, new = seen.baseline, seen.candidate
    if min(old.requests, new.requests) < limits.min_samples:
        return Verdict(
            outcome=Outcome.INCONCLUSIVE,
            reason=f"errors: {new.requests} and {old.requests} probes, {limits.min_samples} needed from each",
        )
    rate_new, rate_old = new.errors / new.requests, old.errors / old.requests
    pooled = (new.errors + old.errors) / (new.requests + old.requests)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / new.requests + 1 / old.requests))
    from scipy import stats

    p_value = float(stats.norm.sf((rate_new - rate_old) / spread)) if spread > 0 else 1.0
    figures = (
        f"errors {rate_new:.1%} vs {rate_old:.1%} ({new.errors} of {new.requests} vs {old.errors} of {old.requests}), "
        f"two-proportion p={p_value:.2g}"
    )
    if p_value < 1.0 - limits.confidence and rate_new - rate_old >= limits.min_error_rise:
        return Verdict(outcome=Outcome.FAIL, reason=f"v{new.version} fails more than v{old.version}: {figures}")
    return Verdict(outcome=Outcome.PASS, reason=figures)


def judge_outputs(seen: PairedObservations, limits: ComparisonThresholds) -> Verdict:
    share = seen.disagreements / seen.compared if seen.compared else 0.0
    figures = (
        f"outputs differ from v{seen.baseline.version} on {seen.disagreements} of {seen.compared} probes ({share:.1%})"
    )
    if limits.max_disagreement is None:
        return Verdict(outcome=Outcome.PASS, reason=f"{figures}; not judged (no disagreement budget)")
    if seen.compared < limits.min_samples:
        return Verdict(
            outcome=Outcome.INCONCLUSIVE,
            reason=f"outputs: {seen.compared} probes compared, {limits.min_samples} needed",
        )
    if share > limits.max_disagreement:
        first = f": {seen.first_disagreement}" if seen.first_disagreement else ""
        return Verdict(outcome=Outcome.FAIL, reason=f"{figures} > {limits.max_disagreement:.1%} allowed{first}")
    return Verdict(outcome=Outcome.PASS, reason=f"{figures} <= {limits.max_disagreement:.1%} allowed")


def compare(seen: PairedObservations, limits: ComparisonThresholds) -> Comparison:
    """FAIL when any question fails; else INCONCLUSIVE when any lacks data; else PASS. The reason leads
    with what decided. ``gaps`` is asked only when streams had gaps (a unary model's keys are unchanged)."""
    checks = {"latency": judge_latency(seen, limits)}
    if seen.baseline.gaps_ms or seen.candidate.gaps_ms:
        checks["gaps"] = judge_gaps(seen, limits)
    checks |= {"errors": judge_errors(seen, limits), "outputs": judge_outputs(seen, limits)}
    for outcome in (Outcome.FAIL, Outcome.INCONCLUSIVE):
        decided = [v.reason for v in checks.values() if v.outcome is outcome]
        if decided:
            return Comparison(verdict=Verdict(outcome=outcome, reason="; ".join(decided)), checks=checks)
    return Comparison(
        verdict=Verdict(outcome=Outcome.PASS, reason="; ".join(v.reason for v in checks.values())), checks=checks
    )


# --- what a bake that did not pass does ----------------------------------------------------------


def failed_beside_a_healthy_baseline(
    sample: BakeSample, limits: BakeThresholds, baseline: int, baseline_errors: int
) -> Verdict | None:
    """A sample whose probes the candidate failed (error rate over the limit) while the old version answered
    the same probes, in the same interval, without an error: the candidate is at fault (the old version is
    the control for a shared cause), so the bake need not wait for a second failing sample. Only probe
    errors count here: latency and server counters have no such control. None otherwise."""
    if (
        sample.error
        or not sample.probe_requests
        or baseline_errors
        or sample.probe_failures / sample.probe_requests <= limits.max_error_rate
    ):
        return None
    return Verdict(
        outcome=Outcome.FAIL,
        reason=f"{evaluate(sample, limits).reason}, while v{baseline} answered the same probes without an error",
    )


# --- what judges a bake: governance's, in one place -----------------------------------------------


def _switch_thresholds() -> BakeThresholds:
    return BakeThresholds(max_error_rate=0.0, failure_limit=0, min_requests=1)


class BakeRule(BaseModel, frozen=True):
    """Everything that decides one bake's verdict, as its kind takes it from governance
    (``Verification.bake_rule``): the flow bakes with it and the approval form shows it (``describe``).
    ``comparison`` None: the candidate is not judged against the old version."""

    thresholds: BakeThresholds
    comparison: ComparisonThresholds | None = None
    checks: tuple[MetricCheck, ...] = ()

    def describe(self) -> str:
        """One line an approver reads: the limits, the comparison and the metric checks, with their figures."""
        t = self.thresholds
        errors = "on any error" if t.max_error_rate == 0 else f"above {t.max_error_rate:.1%} errors"
        latency = f" or a mean latency over {t.max_mean_latency_ms:g} ms" if t.max_mean_latency_ms else ""
        fails = (
            "on the first failed sample"
            if t.failure_limit == 0
            else f"when more than {t.failure_limit} sample{'s fail' if t.failure_limit > 1 else ' fails'}"
        )
        parts = [
            f"a sample fails {errors}{latency} and is inconclusive with fewer than {t.min_requests} request{'s' * (t.min_requests > 1)}; "
            f"the bake fails {fails} and errors after more than {t.consecutive_error_limit} unmeasured in a row"
        ]
        c = self.comparison
        if c is None:
            parts.append("not judged against the old version")
        else:
            outputs = (
                "outputs not judged"
                if c.max_disagreement is None
                else f"at most {c.max_disagreement:.1%} of outputs may differ"
            )
            parts.append(
                f"judged against the old version (while it stays loaded) at confidence {c.confidence:g} for errors (a rise of "
                f"{c.min_error_rise * 100:g} point{'' if c.min_error_rise == 0.01 else 's'} or more) and {c.latency_confidence:g} for latency (p50 +{c.latency_effect:.0%} or more; a stream's first response and gaps alike), "
                f"{c.min_samples} answers from each, {outputs}"
            )
        checks = ", ".join(f"{m.name} <= {m.max_value:g} (on {m.provider})" for m in self.checks)
        parts.append(f"metric checks: {checks or 'none'}")
        return "; ".join(parts)


class DoubtAction(StrEnum):
    ROLLBACK = "rollback"  # at once, no human
    ASK = "ask"  # pause: a person on the type's approver list chooses "roll back" or "promote anyway"


def _rollback_always() -> dict[ChangeType, DoubtAction]:
    return {
        ChangeType.STANDARD: DoubtAction.ROLLBACK,
        ChangeType.NORMAL: DoubtAction.ROLLBACK,
        ChangeType.EMERGENCY: DoubtAction.ROLLBACK,
    }


def _ask_unless_standard() -> dict[ChangeType, DoubtAction]:
    return {
        ChangeType.STANDARD: DoubtAction.ROLLBACK,
        ChangeType.NORMAL: DoubtAction.ASK,
        ChangeType.EMERGENCY: DoubtAction.ASK,
    }


class Verification(BaseModel, frozen=True):
    """``verification.yaml`` in the governance bundle: the one home of what decides a bake's verdict, and,
    per change type, what a FAIL (evidence of harm) and an INCONCLUSIVE (too little evidence) bake do.

    Judgements live here, signed with the bundle whose digest the approvers sign with the plan: the
    per-sample ``thresholds`` (a model deployment's bake) and ``blue_green_thresholds`` (a bake whose old
    version is one Service switch away and is not compared), whether the candidate is judged against the
    old version (``paired``) and how (``comparison``), and the metric ``checks`` with their limits. The
    environment keeps only the mechanics (``settings.environment.BakeSettings``: how often to sample, how
    many probes, the providers' URLs): they set how much evidence is gathered, never the bar it must clear,
    and too little evidence is INCONCLUSIVE here (``min_requests``, ``min_samples``), not a pass.

    By default a FAIL rolls back at once (evidence of harm does not wait for a person), and an INCONCLUSIVE
    asks a person except for a standard change. A measurement ERROR always rolls back: nobody can weigh
    evidence not gathered."""

    model_config = ConfigDict(extra="forbid")
    thresholds: BakeThresholds = Field(
        default_factory=BakeThresholds, description="a model deployment's bake, per sample and series"
    )
    blue_green_thresholds: BakeThresholds = Field(
        default_factory=_switch_thresholds,
        description="a blue-green bake (blue keeps running, one switch away): by default any failed probe fails it",
    )
    paired: bool = Field(
        True, description="probe the old version too, where it stays loaded, and judge the candidate against it"
    )
    comparison: ComparisonThresholds = Field(default_factory=ComparisonThresholds)
    checks: tuple[MetricCheck, ...] = Field(
        (), max_length=20, description="metric checks asked at every sample, on the environment's bake.providers"
    )
    on_fail: dict[ChangeType, DoubtAction] = Field(default_factory=_rollback_always)
    on_inconclusive: dict[ChangeType, DoubtAction] = Field(default_factory=_ask_unless_standard)
    waves: dict[ChangeType, Waves] = Field(
        default_factory=lambda: {t: CANARY_FIRST if t is ChangeType.NORMAL else EVERYWHERE for t in ChangeType},
        description="per change type, how a model deployment widens over a fleet: [1, '100%'] bakes one replica first",
    )
    decision_timeout_s: int = Field(900, ge=1, le=86_400, description="no decision in this time: roll back")
    decision_poll_s: int = Field(2, ge=1, le=60)

    def bake_rule(self, thresholds: BakeThresholds, comparison: ComparisonThresholds | None) -> BakeRule:
        """What judges a kind's bake: ``thresholds`` (one of this verification's), ``comparison`` (None for
        a kind that compares nothing; dropped when ``paired`` is off) and the metric checks."""
        return BakeRule(thresholds=thresholds, comparison=comparison if self.paired else None, checks=self.checks)

    def action(self, change_type: ChangeType, verdict: Verdict) -> DoubtAction:
        table = {Outcome.FAIL: self.on_fail, Outcome.INCONCLUSIVE: self.on_inconclusive}.get(verdict.outcome, {})
        return table.get(change_type, DoubtAction.ROLLBACK)

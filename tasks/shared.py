"""The steps every change shares: the governed steps before execution (assess risk, match the catalog,
schedule, wait for the slot, the pre-change checklist, change events to incident management) and the
verification steps any kind may use (a smoke test on a live endpoint, the bake). Each decides in
``domain``; the kinds' own steps are ``tasks/<kind>.py``."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from changeflow.tasks._options import NO_RETRY, STEP
from prefect import get_run_logger, task
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext

from changeflow.adapters.incidents import post_change_event
from changeflow.bootstrap import Services
from changeflow.domain.catalog import Catalog, CatalogMatch, match_standard
from changeflow.domain.comparison import BakeRule, ComparisonThresholds
from changeflow.domain.history import FAILED, RISK_LOOKBACK
from changeflow.domain.policy import (
    ChangePlan,
    ChecklistFacts,
    ChecklistItem,
    RiskAssessment,
    RiskInputs,
    WindowClass,
    assess_risk,
    evaluate_checklist,
    policy_for,
)
from changeflow.domain.record import ChangeRecord, Phase
from changeflow.domain.request import MONITOR, SMOKE_TEST, ChangeRequest, Risk
from changeflow.domain.verdicts import Verdict
from changeflow.domain.waves import candidate_share
from changeflow.domain.windows import Calendar, NoSlot, Slot, find_slot
from changeflow.exceptions import ChangeflowError, ServerError
from changeflow.kinds import kind_of
from changeflow.services.bake import BakeReport, bake
from changeflow.services.recorder import Recorder
from changeflow.services.verification import DIGEST, bound_golden, request_rate, smoke_verdict
from changeflow.settings.governance import Governance


@task(name="assess", **STEP)
def assess(
    run: Recorder,
    services: Services,
    request: ChangeRequest,
    window: WindowClass,
    now: datetime,
    history: list[ChangeRecord],
) -> RiskAssessment:
    """``history``: the model's open and recently failed changes (read once by the flow, which also checks conflicts with them)."""
    logger = get_run_logger()
    try:
        rate = request_rate(services.metrics, request.model, window_s=0.5)
    except ServerError as exc:
        logger.warning("live traffic unknown (%s); assessed as none", exc)
        rate = 0.0
    failures = sum(
        1
        for r in history
        if r.model == request.model
        and r.state in FAILED
        and r.transitions
        and now - r.transitions[-1].at <= RISK_LOOKBACK
    )
    kind = kind_of(request)
    inputs = RiskInputs(
        kind_points=kind.risk_points,
        size=kind.size_risk(request.change),
        peak_hours_risk=kind.peak_hours_risk,
        requests_per_s=rate,
        recent_failed_changes=failures,
        window=window,
    )
    assessment = assess_risk(request, inputs)
    run.note(
        risk=assessment.risk,
        risk_reasons=list(assessment.reasons),
        serving_version_before=kind.serving_version(services, request),
    )
    logger.info("risk %s (score %d): %s", assessment.risk.value, assessment.score, "; ".join(assessment.reasons))
    return assessment


@task(name="check-catalog", **NO_RETRY)
def check_catalog(catalog: Catalog, request: ChangeRequest) -> CatalogMatch:
    match = match_standard(request, catalog, kind_of(request).catalog_fields(request.change))
    get_run_logger().info(match.reason)
    return match


@task(name="schedule", **NO_RETRY)
def schedule(
    run: Recorder, calendar: Calendar, request: ChangeRequest, risk: Risk, now: datetime, minutes: int
) -> Slot | NoSlot:
    allowed = policy_for(request.type).windows_for(risk)
    slot = find_slot(
        calendar,
        allowed,
        now,
        timedelta(minutes=minutes),
        not_before=request.window.not_before,
        deadline=request.window.deadline,
    )
    if isinstance(slot, Slot):
        run.note(slot_start=slot.start, slot_end=slot.end)
        get_run_logger().info(
            "slot %s – %s in %s%s",
            slot.start,
            slot.end,
            slot.window_name,
            f"; {slot.freeze_override}" if slot.freeze_override else "",
        )
    else:
        get_run_logger().warning("no slot: %s", slot.reason)
    return slot


@task(name="wait-for-slot", **NO_RETRY)
def wait_for_slot(slot: Slot, now: datetime, chunk_s: float = 30.0) -> None:
    """Sleep until the slot opens (``now`` is the scheduling clock; the wait is real time)."""
    remaining = (slot.start - now).total_seconds()
    if remaining > 0:
        get_run_logger().info("waiting %.0f s for the window %s to open", remaining, slot.window_name)
    deadline = time.monotonic() + max(0.0, remaining)
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(chunk_s, left))


@task(name="pre-change-checklist", **STEP)
def run_checklist(
    services: Services, request: ChangeRequest, plan: ChangePlan, slot: Slot, incident_delivered: bool
) -> list[ChecklistItem]:
    kind = kind_of(request)
    previous_ok, previous_detail = kind.previous_state(services, request)
    control = [services.server(target).explicit_model_control() for target in kind.loads_models_on]
    model_control = (all(ok for ok, _ in control), "; ".join(detail for _, detail in control)) if control else None
    desired_state = services.desired_state(request.model) if kind.writes_repository else None
    try:
        services.metrics.scrape()
        metrics_ok, metrics_detail = True, f"metrics of {services.production.name} answer"
    except ChangeflowError as exc:
        metrics_ok, metrics_detail = False, str(exc)
    facts = ChecklistFacts(
        plan_steps=len(plan.execution_steps) + len(plan.verification_steps),
        rollback_steps=len(plan.rollback_steps),
        previous_available=previous_ok,
        previous_detail=previous_detail,
        window=slot.window,
        window_name=slot.window_name,
        on_call_notified_by_event=incident_delivered,
        metrics_answer=metrics_ok,
        metrics_detail=metrics_detail,
        model_control=model_control,
        desired_state=desired_state,
    )
    items = evaluate_checklist(request, facts)
    for item in items:
        get_run_logger().info("checklist: %s %s — %s", "✔" if item.ok else "✘", item.name, item.reason)
    return items


@task(name="notify-incident-management", **NO_RETRY)  # the adapter retries; a failure is logged, not raised
def notify(governance: Governance, record: ChangeRecord, moment: str) -> bool:
    if governance.incident_events is None:
        return False
    delivered = post_change_event(governance.incident_events, record, moment)
    log = get_run_logger()
    (log.info if delivered else log.warning)(
        "change event '%s' for %s %s", moment, record.id, "delivered" if delivered else "not delivered"
    )
    return delivered


# --- verification -----------------------------------------------------------------------------


@task(name="smoke-test", **STEP)
def smoke_test(
    run: Recorder,
    services: Services,
    golden_set: str,
    version: int | None,
    phase: Phase = Phase.VERIFICATION,
    target: str = "production",
    step_name: str = SMOKE_TEST,
) -> Verdict:
    """Golden requests to ``target`` (production, or staging: a candidate's own endpoint); with ``version``,
    each must be answered by it. ``step_name``: the planned step it is (a kind's validation of a candidate)."""
    with run.step(phase, step_name) as step:
        server = services.server(target)
        approved = (
            run.record.attachments.get(DIGEST) if phase is not Phase.ROLLBACK else None
        )  # restoring is never blocked by it
        verdict = smoke_verdict(
            server,
            bound_golden(server, golden_set, approved),
            services.environment.bake.smoke_requests,
            version,
            target,
        )
        step.detail = str(verdict)
        if not verdict.passed:
            step.fail(str(verdict))
        get_run_logger().info("smoke test on %s: %s", target, verdict)
        return verdict


def _carried(services: Services, before, report: BakeReport, model: str, version: int) -> str:
    """How much of the clients' traffic the candidate answered during a wave's bake (the bake's own probes
    left out), from the whole fleet's counters."""
    probes = sum(s.probe_requests for s in report.samples)
    try:
        after = services.metrics.scrape()
    except ChangeflowError as exc:
        return f"clients' share not measured ({exc})"
    name = services.production.name
    mine, every = candidate_share(before, after, model, version, (probes, probes * (2 if report.observed else 1)))
    share = f"{mine / every:.0%}" if every else "no client requests"
    return f"v{version} answered {mine} of {every} client requests on {name} ({share}) before the verdict"


def _cancellation_requested() -> str | None:
    """Cooperative cancellation: the bake asks Prefect whether its flow run is being cancelled."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return None
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(context.flow_run.id).state
    if state is not None and (state.is_cancelling() or state.is_cancelled()):
        return f"flow run {context.flow_run.name} cancelled during the bake"
    return None


@task(name="monitor", **NO_RETRY)  # a bake is not retried: its samples are the evidence
def monitor(
    run: Recorder,
    services: Services,
    golden_set: str,
    version: int | None,
    seconds: float,
    rule: BakeRule,
    step_name: str = MONITOR,
    baseline: int | None = None,
    wave: str = "",
) -> BakeReport:
    """Bake the served version, judged by ``rule`` (governance's, as the kind takes it: ``bake_rule``); with
    ``version`` the server's counters for it count too, without it (a Service in front of several servers)
    the golden probes alone judge. With ``baseline`` (the old version, still loaded) and a comparison in the
    rule, every probe is paired with it and the candidate is judged against it. The environment says only
    how often and how many probes."""
    logger = get_run_logger()
    settings = services.environment.bake
    with run.step(Phase.VERIFICATION, step_name) as step:
        before = services.metrics.scrape() if wave and version is not None else None
        report = bake(
            services.production,
            services.metrics if version is not None else None,
            bound_golden(services.production, golden_set, run.record.attachments.get(DIGEST)),
            version,
            seconds=seconds,
            interval_s=settings.interval_s,
            probes_per_sample=settings.probes_per_sample,
            limits=rule.thresholds,
            baseline=baseline if rule.comparison is not None else None,
            comparison=rule.comparison or ComparisonThresholds(),
            checks=services.metric_checks(rule.checks),
            cancelled=_cancellation_requested,
            on_sample=lambda sample, verdict: logger.info("bake sample at %.1fs: %s", sample.at_s, verdict),
        )
        step.detail = f"{report.verdict} ({len(report.samples)} samples, {report.elapsed_s:.1f}s)"
        if before is not None:
            step.detail += f"; {wave}: {_carried(services, before, report, run.record.model, version)}"
        if not report.verdict.passed:
            step.fail(step.detail)
        logger.info("bake: %s", step.detail)
        return report

"""The approval gate: the flow pauses for an ``ApprovalDecision`` filled in on the Prefect UI's resume form
(or sent by ``changeflow approve``, which resumes through the same API), judges it, records it, and pauses
again until the quorum is reached, someone entitled rejects, or time runs out."""

from __future__ import annotations

import threading
import time

from prefect import get_run_logger
from prefect.events import emit_event
from prefect.flow_runs import FlowPauseTimeout, pause_flow_run
from prefect.input import RunInput
from pydantic import Field

from changeflow.domain.approval import Decision, judge, quorum_reached
from changeflow.domain.plan import ChangePlan
from changeflow.domain.policy import policy_for
from changeflow.domain.record import Approval
from changeflow.domain.request import ChangeRequest
from changeflow.domain.types import State
from changeflow.governance import Governance
from changeflow.recorder import Recorder, utc_now


class ApprovalDecision(RunInput):
    """The form an approver fills in to resume a paused change."""

    approve: bool = Field(False, description="Approve this change (off: reject it)")
    approver: str = Field("", description="Your identity, e.g. carol")
    comment: str = Field("", description="Why; shown on the change record")


def approval_summary(request: ChangeRequest, plan: ChangePlan, risk_reasons: list[str], approved_by: list[str], required: int, refusals: list[str]) -> str:
    lines = [
        f"## Approve change {request.id}?",
        f"**{request.type.value} {request.kind.value}** on `{request.model}`, requested by **{request.requester}**",
        "",
        f"> {request.description}",
        "",
        f"**Risk: {plan.risk.value}** — " + "; ".join(risk_reasons),
        "",
        f"**Approvals:** {len(approved_by)} of {required} from the {plan.approval_pool.value.replace('_', ' ')}" + (f" (so far: {', '.join(approved_by)})" if approved_by else ""),
        "",
        "**Plan**",
        *[f"{i}. `{s.name}` — {s.action}" for i, s in enumerate(plan.execution_steps + plan.verification_steps, 1)],
        "",
        "**Rollback**",
        *[f"{i}. `{s.name}` — {s.action}" for i, s in enumerate(plan.rollback_steps, 1)],
        "",
        f"Rollback plan: {request.rollback_plan}",
    ]
    if refusals:
        lines += ["", "**Not counted:** " + "; ".join(refusals)]
    return "\n".join(lines)


def _overdue_notice(request: ChangeRequest, plan: ChangePlan, after_s: int) -> threading.Timer:
    """Emits ``changeflow.approval.overdue`` (for automations / notifications) if no quorum after ``after_s``."""

    def emit() -> None:
        emit_event(
            event="changeflow.approval.overdue",
            resource={"prefect.resource.id": f"changeflow.change.{request.id}", "prefect.resource.name": request.id},
            payload={"waiting_s": after_s, "approvals_required": plan.approvals_required, "pool": plan.approval_pool.value},
        )

    timer = threading.Timer(after_s, emit)
    timer.daemon = True
    timer.start()
    return timer


def approval_gate(recorder: Recorder, request: ChangeRequest, plan: ChangePlan, governance: Governance) -> State:
    """APPROVED, REJECTED or EXPIRED; every decision (counted or refused) is on the record."""
    overdue = _overdue_notice(request, plan, governance.approval_overdue_s)
    try:
        return _decide(recorder, request, plan, governance)
    finally:
        overdue.cancel()


def _decide(recorder: Recorder, request: ChangeRequest, plan: ChangePlan, governance: Governance) -> State:
    logger = get_run_logger()
    policy = policy_for(request.type)
    required = plan.approvals_required
    approved_by: list[str] = []
    refusals: list[str] = []
    deadline = time.monotonic() + governance.approval_timeout_s
    while not quorum_reached(approved_by, required):
        remaining = int(deadline - time.monotonic())
        if remaining <= 0:
            return State.EXPIRED
        form = ApprovalDecision.with_initial_data(
            description=approval_summary(request, plan, list(recorder.record.risk_reasons), approved_by, required, refusals),
            approve=False,
            approver="",
            comment="",
        )
        logger.info("%s waits for approval %d of %d (%s)", request.id, len(approved_by) + 1, required, plan.approval_pool.value)
        try:
            answer = pause_flow_run(wait_for_input=form, timeout=remaining, poll_interval=governance.approval_poll_s)
        except FlowPauseTimeout:
            return State.EXPIRED
        decision = Decision(approve=answer.approve, approver=answer.approver.strip().lower(), comment=answer.comment)
        verdict = judge(decision, requester=request.requester, policy=policy, approvers=governance.approvers, already=approved_by)
        entry = Approval(
            approver=decision.approver or "(blank)",
            decision="approve" if decision.approve else "reject",
            at=utc_now(),
            comment=decision.comment,
            counted=verdict.accepted,
            refusal="" if verdict.accepted else verdict.reason,
        )
        recorder.note(approvals=[*recorder.record.approvals, entry])
        if not verdict.accepted:
            refusals.append(verdict.reason)
            logger.warning("decision not counted: %s", verdict.reason)
            continue
        logger.info("decision counted: %s", verdict.reason)
        if not decision.approve:
            return State.REJECTED
        approved_by.append(decision.approver)
    return State.APPROVED

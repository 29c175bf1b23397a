"""What approvers read: the summary above the approval form, and the note that a change waits for them
(sent again when it is overdue). Plain text from the request and its plan."""

from __future__ import annotations

from changeflow.domain.comparison import BakeRule
from changeflow.domain.policy import ChangePlan
from changeflow.domain.request import ChangeRequest


def approval_summary(
    request: ChangeRequest,
    plan: ChangePlan,
    risk_reasons: list[str],
    approved_by: list[str],
    refusals: list[str],
    golden: tuple[str, str] | None = None,
    digest: str = "",
    bake: BakeRule | None = None,
    waves: tuple[int | str, ...] | None = None,
) -> str:
    """What the approver reads above the resume form: the change, its risk, plan and rollback, and what
    judges it: the golden set and the bake's rule (governance's, signed with the bundle the plan digest names)."""
    lines = [
        *not_counted(refusals),
        f"## Approve change {request.id}?",
        f"**{request.type.value} {request.kind}** on `{request.model}`, requested by **{request.requester}**",
        "",
        f"> {request.description}",
        "",
        f"**Risk: {plan.risk.value}** — " + "; ".join(risk_reasons),
        "",
        f"**Approvals:** {len(approved_by)} of {plan.approvals_required} from the {plan.approval_pool.value.replace('_', ' ')}"
        + (f" (so far: {', '.join(approved_by)})" if approved_by else ""),
        "",
        "**Plan**",
        *[f"{i}. `{s.name}` — {s.action}" for i, s in enumerate(plan.execution_steps + plan.verification_steps, 1)],
        "",
        "**Rollback**",
        *[f"{i}. `{s.name}` — {s.action}" for i, s in enumerate(plan.rollback_steps, 1)],
        "",
        f"Rollback plan: {request.rollback_plan}",
    ]
    if golden:
        lines += [
            "",
            f"**Judged by** the golden set `{golden[0]}` (sha256 `{golden[1][:16]}`): a change to that file after approval stops the change.",
        ]
    if bake is not None:
        lines += [
            "",
            f"**Bake** (governance's `verification.yaml`, in the bundle your plan digest names): {bake.describe()}.",
        ]
    if waves is not None:
        order = ", then ".join(f"{w} replica{'s' * (w != 1)}" if isinstance(w, int) else f"{w} of them" for w in waves)
        lines += ["", f"**Waves** on a fleet of replicas (governance's, per change type): {order}; each wave is baked."]
    if digest:
        lines += [
            "",
            f"**You approve plan** `{digest}`. Choose approve or reject, type your name and the one-time code "
            "your authenticator shows for changeflow; a decision without a valid code, or on another plan, is "
            "refused and recorded.",
        ]
    return "\n".join(lines)


def doubt_form_text(request: ChangeRequest, evidence: str, digest: str, refusals: list[str], timeout_s: int) -> str:
    """What the person reads above the form on a doubtful bake: the evidence and the two ways out."""
    return "\n".join(
        [
            *not_counted(refusals),
            f"## {request.id}: the bake of {request.model} did not pass",
            "",
            *(f"- {line}" for line in evidence.splitlines()),
            "",
            "Production still serves the new version, the old one warm beside it.",
            "",
            "Choose **approve** to promote anyway (the new version stays, the old is unloaded) or **reject** to "
            f"**roll back**. No decision within {timeout_s}s: rolled back.",
            "",
            f"Decision digest: `{digest}`",
        ]
    )


def not_counted(refusals: list[str]) -> list[str]:
    """The last answer's refusal first, above the form the person fills in again (the UI only says the run
    resumed), with the earlier ones after it."""
    if not refusals:
        return []
    earlier = [f"- {r}" for r in reversed(refusals[:-1])][:3]
    return [f"> **Not counted: {refusals[-1]}**", *([">", *[f"> {e}" for e in earlier]] if earlier else []), ""]


def approval_request_text(request: ChangeRequest, plan: ChangePlan, digest: str, link: str) -> str:
    """What approvers are told when a change waits for them (and again when it is overdue)."""
    return "\n".join(
        [
            f"**{request.type.value} {request.kind}** on `{request.model}`, requested by {request.requester}: {request.description}",
            f"Risk {plan.risk.value}; {plan.approvals_required} approval(s) from the {plan.approval_pool.value.replace('_', ' ')}.",
            f"Plan digest `{digest[:16]}…`. Approve or reject: {link} (Resume, with your one-time code) or `changeflow approve {request.id} --approver NAME`.",
        ]
    )

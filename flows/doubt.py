"""A person on doubt: a bake that did not pass, for a change type whose policy says ``ask``, pauses the
change with production still on [old, new] and asks for "roll back" or "promote anyway", with the
evidence on the form. The decision is judged like an approval (the type's approver list, not the
requester, proof of identity on a digest of the plan and this evidence) and kept on the record under
``bake_decisions``, refused ones too. No counted decision before the timeout: roll back.
"""

from __future__ import annotations

import time

from prefect import get_run_logger
from prefect.flow_runs import FlowPauseTimeout, pause_flow_run

from changeflow.bootstrap import Services, approver_credentials
from changeflow.domain.comparison import Verification
from changeflow.domain.identity import DOUBT_DIGEST, PLAN_DIGEST, doubt_digest
from changeflow.domain.request import ChangeRequest
from changeflow.domain.verdicts import Verdict
from changeflow.flows.lifecycle import ApprovalDecision, weigh
from changeflow.services.recorder import Recorder
from changeflow.settings.governance import Governance


class BakeDecision(ApprovalDecision):
    """The form on a doubtful bake: the same fields as an approval, so the Prefect UI's resume form and
    ``changeflow approve`` (approve: promote anyway; ``--reject``: roll back) both work."""


def evidence_text(verdict: Verdict, details: list[str]) -> str:
    return "\n".join([f"bake verdict {verdict}", *details])


def doubt_form_text(request: ChangeRequest, evidence: str, digest: str, refusals: list[str], timeout_s: int) -> str:
    shown = "\n".join(f"- {line}" for line in evidence.splitlines())
    refused = "".join(f"\n- not counted: {r}" for r in refusals[-3:])
    return (
        f"## {request.id}: the bake of {request.model} did not pass\n\n{shown}\n\n"
        f"Production still serves the new version, the old one warm beside it.\n\n"
        f"**Approve** to promote anyway (the new version stays, the old is unloaded); leave it off to **roll back**. "
        f"No decision within {timeout_s}s: rolled back.{refused}\n\n"
        f"Decision digest: `{digest}`"
    )


def ask_on_doubt(recorder: Recorder, services: Services, request: ChangeRequest, verdict: Verdict, details: list[str],
                 governance: Governance) -> tuple[bool, str]:
    """(promote anyway?, why) after a counted decision, or (False, why) when time ran out."""
    logger = get_run_logger()
    verification: Verification = governance.verification
    evidence = evidence_text(verdict, details)
    digest = recorder.attach(DOUBT_DIGEST, lambda: doubt_digest(recorder.record.attachments.get(PLAN_DIGEST, ""), evidence))
    credentials = approver_credentials(governance.approver_keys, governance.authenticators)
    refusals: list[str] = []
    deadline = time.monotonic() + verification.decision_timeout_s
    while (remaining := int(deadline - time.monotonic())) > 0:
        form = BakeDecision.with_initial_data(
            description=doubt_form_text(request, evidence, digest, refusals, verification.decision_timeout_s),
            approve=False, approver="", code="", comment="", plan_digest=digest, signature="",
        )
        logger.warning("%s: bake %s; waiting up to %ds for a decision: roll back or promote anyway", request.id, verdict.outcome.value, remaining)
        try:
            answer = pause_flow_run(wait_for_input=form, timeout=remaining, poll_interval=verification.decision_poll_s)
        except FlowPauseTimeout:
            break
        decision, judged, entry = weigh(answer, request, services, governance, credentials, digest, already=[])
        recorder.note(bake_decisions=[*recorder.record.bake_decisions, entry])
        if not judged.accepted:
            refusals.append(judged.reason)
            logger.warning("decision not counted: %s", judged.reason)
            continue
        said = f" ({decision.comment})" if decision.comment else ""
        if decision.approve:
            return True, f"promoted anyway by {decision.approver}{said} despite bake {verdict}"
        return False, f"roll back decided by {decision.approver}{said}"
    return False, f"no decision within {verification.decision_timeout_s}s"

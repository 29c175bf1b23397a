"""A person on doubt: a bake that did not pass, for a change type whose policy says ``ask``, pauses the
change with production still on [old, new] and asks for "roll back" or "promote anyway", with the
evidence on the form. The decision is judged like an approval (the type's approver list, not the
requester, proof of identity on a digest of the plan and this evidence) and kept on the record under
``bake_decisions``, refused ones too. No counted decision before the timeout: roll back.
"""

from __future__ import annotations

from prefect import get_run_logger

from changeflow.bootstrap import Services, approver_credentials
from changeflow.domain.comparison import Verification
from changeflow.domain.decisions import GateOutcome
from changeflow.domain.identity import DOUBT_DIGEST, PLAN_DIGEST, doubt_digest
from changeflow.domain.request import ChangeRequest
from changeflow.domain.verdicts import Verdict
from changeflow.services.approval_gate import gather, weigher
from changeflow.services.approval_text import doubt_form_text
from changeflow.services.recorder import Recorder
from changeflow.settings.defaults import executor_key
from changeflow.settings.governance import Governance


def evidence_text(verdict: Verdict, details: list[str]) -> str:
    return "\n".join([f"bake verdict {verdict}", *details])


def ask_on_doubt(
    recorder: Recorder,
    services: Services,
    request: ChangeRequest,
    verdict: Verdict,
    details: list[str],
    governance: Governance,
) -> tuple[bool, str]:
    """(promote anyway?, why) after a counted decision, or (False, why) when time ran out. One decision
    settles it, through the same gate as an approval."""
    logger = get_run_logger()
    verification: Verification = governance.verification
    evidence = evidence_text(verdict, details)
    digest = recorder.attach(
        DOUBT_DIGEST, lambda: doubt_digest(recorder.record.attachments.get(PLAN_DIGEST, ""), evidence)
    )
    credentials = approver_credentials(governance.approver_keys, governance.authenticators)
    logger.warning(
        "%s: bake %s; waiting up to %ds for a decision: roll back or promote anyway",
        request.id,
        verdict.outcome.value,
        verification.decision_timeout_s,
    )
    result = gather(
        services.decisions,
        purpose="bake",
        digest=digest,
        required=1,
        weigh=weigher(request, governance, credentials, services.records, digest, executor_key()),
        keep=lambda entry: recorder.note(bake_decisions=[*recorder.record.bake_decisions, entry]),
        form=lambda _approved, refusals: doubt_form_text(
            request, evidence, digest, refusals, verification.decision_timeout_s
        ),
        timeout_s=verification.decision_timeout_s,
        poll_s=verification.decision_poll_s,
        log=logger,
    )
    said = f" ({result.comment})" if result.comment else ""
    if result.outcome is GateOutcome.APPROVED:
        return True, f"promoted anyway by {result.decided_by}{said} despite bake {verdict}"
    if result.outcome is GateOutcome.REJECTED:
        return False, f"roll back decided by {result.decided_by}{said}"
    return False, f"no decision within {verification.decision_timeout_s}s"

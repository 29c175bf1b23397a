"""The one decision gate: ask a person, judge the answer, keep it on the record, ask again until the
quorum is reached, someone entitled says no, or time runs out. A change waiting for its approvals and a
bake that did not pass (``flows.doubt``) both go through it.

Each answer is judged three ways before it counts: well formed (``domain.decisions``), from someone
entitled (``domain.policy.judge``: the type's approver list, never the requester, each person once) and
with proof of identity on the digest the person was shown (``services.approvals``). Refused answers are
kept too, with why.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from changeflow.domain.decisions import Answer, GateOutcome, GateResult, malformed
from changeflow.domain.identity import person
from changeflow.domain.policy import Decision, Judgement, judge, policy_for, quorum_reached
from changeflow.domain.record import Approval
from changeflow.domain.request import ChangeRequest
from changeflow.ports import Credentials, DecisionSource, ProofLedger
from changeflow.services.approvals import check_proof, kept_proof
from changeflow.services.recorder import utc_now

Weigh = Callable[[Answer, list[str]], tuple[Decision, Judgement, Approval]]


def weigher(
    request: ChangeRequest, governance, credentials: Credentials, ledger: ProofLedger, digest: str, executor
) -> Weigh:
    """How one answer is judged for ``request`` on ``digest``: the returned function takes the answer and
    the approvers counted so far and gives (decision, judgement, the record entry that keeps it)."""

    def weigh(answer: Answer, already: list[str]) -> tuple[Decision, Judgement, Approval]:
        decision = Decision(approve=bool(answer.approve), approver=person(answer.approver), comment=answer.comment)
        verdict = malformed(answer) or judge(
            decision,
            requester=person(request.requester),
            policy=policy_for(request.type),
            approvers=governance.approvers,
            already=already,
        )
        proof = None
        if verdict.accepted and governance.require_proof:
            proof = check_proof(
                credentials,
                ledger,
                change_id=request.id,
                approver=decision.approver,
                approve=decision.approve,
                digest=digest,
                given_digest=answer.plan_digest,
                code=answer.code,
                signature=answer.signature,
            )
            if not proof.valid:
                verdict = Judgement(accepted=False, reason=f"{decision.approver}: {proof.reason}")
        entry = Approval(
            approver=decision.approver or "(blank)",
            decision="approve" if decision.approve else "reject",
            at=utc_now(),
            comment=decision.comment,
            counted=verdict.accepted,
            refusal="" if verdict.accepted else verdict.reason,
            proof=proof.kind if proof is not None and proof.valid else "",
            plan_digest=answer.plan_digest.strip()[:64],
            **kept_proof(proof, request.id, decision.approver, decision.approve, digest, answer.signature, executor),
        )
        return decision, verdict, entry

    return weigh


def gather(
    source: DecisionSource,
    *,
    purpose: str,
    weigh: Weigh,
    keep: Callable[[Approval], None],
    form: Callable[[list[str], list[str]], str],
    digest: str,
    required: int,
    timeout_s: int,
    poll_s: float,
    log: logging.Logger | logging.LoggerAdapter,
    clock: Callable[[], float] = time.monotonic,
) -> GateResult:
    """Ask ``source`` until ``required`` distinct approvers approved (APPROVED), a counted rejection
    (REJECTED) or ``timeout_s`` without the quorum (EXPIRED). ``form(approved_by, refusals)`` is the text
    the person reads; ``keep(entry)`` puts every answer, counted or refused, on the record."""
    approved_by: list[str] = []
    refusals: list[str] = []
    last: Decision | None = None
    deadline = clock() + timeout_s
    while not quorum_reached(approved_by, required):
        remaining = int(deadline - clock())
        if remaining <= 0:
            return GateResult(outcome=GateOutcome.EXPIRED, approved_by=approved_by, refusals=refusals)
        log.info("waiting for decision %d of %d (%s, up to %ds)", len(approved_by) + 1, required, purpose, remaining)
        answer = source.ask(purpose, form(approved_by, refusals), digest, remaining, poll_s)
        if answer is None:
            return GateResult(outcome=GateOutcome.EXPIRED, approved_by=approved_by, refusals=refusals)
        decision, verdict, entry = weigh(answer, approved_by)
        keep(entry)
        if not verdict.accepted:
            refusals.append(verdict.reason)
            log.warning("decision not counted: %s", verdict.reason)
            continue
        log.info("decision counted: %s", verdict.reason)
        if not decision.approve:
            return GateResult(
                outcome=GateOutcome.REJECTED,
                approved_by=approved_by,
                decided_by=decision.approver,
                comment=decision.comment,
                refusals=refusals,
            )
        approved_by.append(decision.approver)
        last = decision
    return GateResult(
        outcome=GateOutcome.APPROVED,
        approved_by=approved_by,
        decided_by=last.approver if last else "",
        comment=last.comment if last else "",
        refusals=refusals,
    )

"""A decision as a person submitted it (the approval form in the Prefect UI, ``changeflow approve``, the
form on a doubtful bake) and what a decision gate concluded from all of them.

Both gates (a change waiting for its approvals, a bake that did not pass) ask the same way and judge the
same way: ``services.approval_gate``. Who may decide is ``domain.policy.judge``; this module says what a
well-formed answer is, since silence is neither a yes nor a no.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel

from changeflow.domain.identity import person
from changeflow.domain.policy import Judgement


class Answer(BaseModel, frozen=True):
    """One submitted decision. ``approve`` is None when the form did not say (a malformed decision)."""

    approve: bool | None
    approver: str = ""
    code: str = ""
    comment: str = ""
    plan_digest: str = ""
    signature: str = ""


def malformed(answer: Answer) -> Judgement | None:
    """A decision that chose neither approve nor reject is refused: silence is neither a yes nor a no.
    The form's schema refuses it first (``adapters.prefect_approvals``); this holds for any other way in."""
    if answer.approve is not None:
        return None
    who = person(answer.approver) or "(blank)"
    return Judgement(
        accepted=False,
        reason=f"{who}: the decision is neither approve nor reject, so it is malformed; choose one",
    )


class GateOutcome(StrEnum):
    APPROVED = "approved"  # the quorum approved
    REJECTED = "rejected"  # someone entitled said no
    EXPIRED = "expired"  # no counted decision in time


class GateResult(BaseModel, frozen=True):
    """What a decision gate concluded, with the counted approvers and, for the last counted decision,
    who gave it and why."""

    outcome: GateOutcome
    approved_by: list[str] = []
    decided_by: str = ""
    comment: str = ""
    refusals: list[str] = []

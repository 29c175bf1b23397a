"""Who gave a decision, and on what: the rules of verified approvals, free of any crypto library.

- ``person(name)`` (from ``names``): names are compared after Unicode NFKC case-folding, so ``Carol``,
  ``CAROL`` and full-width ``Ｃａｒｏｌ`` are one person.
- ``plan_digest``: the SHA-256 of the change request and its plan (warnings aside: they are advice, not
  what is approved), with the golden set's digest and the governance bundle's; an approval counts only
  for the digest it names, so a bundle changed after approval voids it.
- ``decision_message``: the exact bytes an approver's Ed25519 key signs (change, decision, digest, who);
  ``attestation_message``: what an executor signs for a one-time code it accepted;
  ``review_message``: what an emergency approver signs for a post-implementation review (change, reviewer,
  the SHA-256 of the summary, and the plan digest the emergency was approved on).
- ``Proof``: an adapter's verdict on a code or signature, with the ledger key that makes it single-use.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel

from changeflow.domain.names import person
from changeflow.domain.policy import ChangePlan
from changeflow.domain.request import ChangeRequest

PLAN_DIGEST = "plan_digest"
GOVERNANCE_BUNDLE = "governance_bundle"  # the digest of the bundle that judged the change
GOVERNANCE_SEAL = "governance_seal"  # who sealed it, in words
DOUBT_DIGEST = "doubt_digest"  # what a decision on a doubtful bake is given on: the plan and the evidence


def plan_digest(
    request: ChangeRequest, plan: ChangePlan, golden_digest: str | None = None, governance_bundle: str | None = None
) -> str:
    what = {
        "request": request.model_dump(mode="json"),
        "plan": plan.model_dump(mode="json", exclude={"warnings"}),
        "golden_set_sha256": golden_digest,
    }
    if governance_bundle is not None:  # absent for digests made before bundles were pinned
        what["governance_bundle"] = governance_bundle
    return hashlib.sha256(json.dumps(what, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def doubt_digest(plan: str, evidence: str) -> str:
    """The digest a decision on a doubtful bake names: the approved plan and the bake's evidence, so a
    signature on one bake's evidence is not a decision on another's (nor an approval replayed)."""
    return hashlib.sha256("\n".join(["changeflow-doubt-v1", plan, evidence]).encode("utf-8")).hexdigest()


def decision_message(change_id: str, approve: bool, digest: str, approver: str) -> bytes:
    return "\n".join(
        ["changeflow-decision-v1", change_id, "approve" if approve else "reject", digest, person(approver)]
    ).encode("utf-8")


def attestation_message(change_id: str, approve: bool, digest: str, approver: str, step: int) -> bytes:
    """What an executor signs when it accepted a one-time code: who, on what, in which 30 s step. The code
    itself proves nothing later; this signature lets every later executor and auditor re-verify."""
    return "\n".join(
        [
            "changeflow-totp-attestation-v1",
            change_id,
            "approve" if approve else "reject",
            digest,
            person(approver),
            str(step),
        ]
    ).encode("utf-8")


def summary_digest(summary: str) -> str:
    """The SHA-256 of a review's summary as recorded: stripped of surrounding whitespace, UTF-8."""
    return hashlib.sha256(summary.strip().encode("utf-8")).hexdigest()


def review_message(change_id: str, reviewer: str, summary: str, digest: str) -> bytes:
    """The exact bytes a reviewer's Ed25519 key signs for an emergency's post-implementation review: the
    change, who reviews (``person``), the digest of the summary (``summary_digest``) and the plan digest the
    change was approved on (``PLAN_DIGEST`` on its record; empty when the record has none). A signature on
    one summary is not a review with another, nor of another change or plan."""
    return "\n".join(["changeflow-review-v1", change_id, person(reviewer), summary_digest(summary), digest]).encode(
        "utf-8"
    )


class Proof(BaseModel, frozen=True):
    kind: Literal["totp", "ed25519", "none"]
    valid: bool
    reason: str
    ledger_key: str = ""
    step: int | None = None  # a one-time code's 30 s time step

    @classmethod
    def refused(cls, kind: Literal["totp", "ed25519", "none"], reason: str) -> Proof:
        return cls(kind=kind, valid=False, reason=reason)

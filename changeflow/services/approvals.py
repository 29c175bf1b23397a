"""Whether a submitted decision proves who gave it and what it was given on, and the proof kept on the
record so that every later executor and auditor can verify it again.

A decision counts only when it names the plan being approved (its digest) and carries a valid proof
of its approver's identity (a one-time code, or a signature over change, decision and digest) not used
before. The policy (who may decide, quorum) is ``domain.policy.judge``; this is the identity half.
What is kept: an approver's signature as given; for a one-time code (which proves nothing once its
30 s are over) the time step and the accepting executor's signature over who, what and when.
"""

from __future__ import annotations

from changeflow.domain.identity import Proof, attestation_message, decision_message, person
from changeflow.domain.record import Approval
from changeflow.ports import Credentials, ProofLedger
from changeflow.signing import key_id, verify


def check_proof(
    credentials: Credentials,
    ledger: ProofLedger,
    *,
    change_id: str,
    approver: str,
    approve: bool,
    digest: str,
    given_digest: str,
    code: str,
    signature: str,
) -> Proof:
    if given_digest.strip() != digest:
        shown = given_digest.strip()[:16] or "none"
        return Proof.refused(
            "none",
            f"given on another plan (digest {shown}…, this plan is {digest[:16]}…): an earlier approval does not carry over",
        )
    proof = credentials.verify(change_id, approver, approve, digest, code=code, signature=signature)
    if proof.valid and not ledger.claim_proof(proof.ledger_key, change_id):
        return Proof.refused(
            proof.kind,
            f"this {'one-time code' if proof.kind == 'totp' else 'signature'} was already used: a proof counts once",
        )
    return proof


def kept_proof(
    proof: Proof | None, change_id: str, approver: str, approve: bool, digest: str, signature: str, executor
) -> dict:
    """The fields of ``Approval`` that keep a valid proof: the approver's signature, or the one-time
    code's step attested by ``executor`` (this process's key; None: unattested, so it will not verify)."""
    if proof is None or not proof.valid:
        return {}
    if proof.kind == "ed25519":
        return {"signature": signature.strip()}
    if proof.kind == "totp" and proof.step is not None:
        attested = (
            executor.sign(attestation_message(change_id, approve, digest, approver, proof.step))
            if executor is not None
            else ""
        )
        return {
            "totp_step": proof.step,
            "attestation": attested,
            "attested_by": executor.key_id if executor is not None else "",
        }
    return {}


class ProofVerifier:
    """Re-verifies a kept proof against the governance bundle's keys: an approver's signature against
    their public key, a one-time code's attestation against an executor's. Labels count for nothing."""

    def __init__(self, approver_keys: dict[str, str], executor_keys: dict[str, str]) -> None:
        self.approvers = {person(name): key for name, key in approver_keys.items()}
        self.executors = {key_id(public): public for public in executor_keys.values()}

    def problem(self, change_id: str, approval: Approval) -> str | None:
        who, approve = person(approval.approver), approval.decision == "approve"
        if approval.proof == "ed25519":
            key = self.approvers.get(who)
            if key is None:
                return f"{who} has no public key in the governance bundle"
            if not verify(key, decision_message(change_id, approve, approval.plan_digest, who), approval.signature):
                return f"{who}'s kept signature does not verify against their key in the governance bundle"
            return None
        if approval.proof == "totp":
            key = self.executors.get(approval.attested_by)
            if approval.totp_step is None or key is None:
                return f"{who}'s one-time code carries no attestation by an executor of the governance bundle"
            if not verify(
                key,
                attestation_message(change_id, approve, approval.plan_digest, who, approval.totp_step),
                approval.attestation,
            ):
                return f"{who}'s one-time code attestation does not verify"
            return None
        return f"{who}'s approval carries no proof of identity"


def proof_verifier(governance) -> ProofVerifier:
    """The verifier for ``governance``: its approvers' keys, and the executors whose records verify."""
    from changeflow.services.audit import executor_seals

    seals = executor_seals(governance)
    return ProofVerifier(
        governance.approver_keys, {name: public for name, public in (seals.keys.values() if seals is not None else [])}
    )

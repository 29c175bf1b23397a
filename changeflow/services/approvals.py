"""Whether a submitted decision proves who gave it and what it was given on.

A decision counts only when it names the plan being approved (its digest) and carries a valid proof
of its approver's identity (a one-time code, or a signature over change, decision and digest) not used
before. The policy (who may decide, quorum) is ``domain.policy.judge``; this is the identity half.
"""

from __future__ import annotations

from changeflow.domain.identity import Proof
from changeflow.ports import Credentials, ProofLedger


def check_proof(
    credentials: Credentials, ledger: ProofLedger, *, change_id: str, approver: str, approve: bool,
    digest: str, given_digest: str, code: str, signature: str,
) -> Proof:
    if given_digest.strip() != digest:
        shown = given_digest.strip()[:16] or "none"
        return Proof.refused("none", f"given on another plan (digest {shown}…, this plan is {digest[:16]}…): an earlier approval does not carry over")
    proof = credentials.verify(change_id, approver, approve, digest, code=code, signature=signature)
    if proof.valid and not ledger.claim_proof(proof.ledger_key, change_id):
        return Proof.refused(proof.kind, f"this {'one-time code' if proof.kind == 'totp' else 'signature'} was already used: a proof counts once")
    return proof

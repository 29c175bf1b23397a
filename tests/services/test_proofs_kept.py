"""A counted decision keeps its proof, and every executor re-verifies it against the governance bundle's
keys: a label saying "ed25519" or "totp" is worth nothing, a requester's own key is not an approver's."""

from datetime import datetime, timezone

import pytest

from changeflow.domain.identity import Proof, decision_message
from changeflow.domain.record import Approval
from changeflow.services.approvals import ProofVerifier, kept_proof
from changeflow.signing import PrivateKey, generate_key

AT = datetime(2026, 11, 25, 21, 0, tzinfo=timezone.utc)
DIGEST = "d" * 64
CHANGE = "CHG-0002"


@pytest.fixture()
def keys(tmp_path):
    made = {}
    for name in ("carol", "mallory", "worker", "rogue"):
        generate_key(tmp_path / f"{name}.pem")
        made[name] = PrivateKey.load(tmp_path / f"{name}.pem")
    return made


@pytest.fixture()
def verifier(keys):
    return ProofVerifier({"carol": keys["carol"].public}, {"worker-1": keys["worker"].public})


def signed_by(key: PrivateKey, who: str = "carol", digest: str = DIGEST) -> Approval:
    signature = key.sign(decision_message(CHANGE, True, digest, who))
    kept = kept_proof(Proof(kind="ed25519", valid=True, reason=""), CHANGE, who, True, digest, signature, None)
    return Approval(approver=who, decision="approve", at=AT, proof="ed25519", plan_digest=digest, **kept)


def code_attested_by(executor: PrivateKey | None, step: int = 59_000_000) -> Approval:
    kept = kept_proof(Proof(kind="totp", valid=True, reason="", step=step), CHANGE, "carol", True, DIGEST, "", executor)
    return Approval(approver="carol", decision="approve", at=AT, proof="totp", plan_digest=DIGEST, **kept)


def test_kept_signatures_and_attested_codes_verify(verifier, keys):
    assert verifier.problem(CHANGE, signed_by(keys["carol"])) is None
    assert verifier.problem(CHANGE, code_attested_by(keys["worker"])) is None


def test_labels_without_the_proof_count_for_nothing(verifier):
    for label in ("ed25519", "totp", ""):
        approval = Approval(approver="carol", decision="approve", at=AT, proof=label, plan_digest=DIGEST)
        assert verifier.problem(CHANGE, approval) is not None


def test_a_requesters_own_key_standing_in_for_carol_is_refused(verifier, keys):
    assert "does not verify against their key in the governance bundle" in verifier.problem(
        CHANGE, signed_by(keys["mallory"])
    )


def test_a_kept_signature_moved_to_another_change_digest_or_decision_is_refused(verifier, keys):
    approval = signed_by(keys["carol"])
    assert verifier.problem("CHG-0003", approval) is not None
    assert verifier.problem(CHANGE, approval.model_copy(update={"plan_digest": "e" * 64})) is not None
    assert verifier.problem(CHANGE, approval.model_copy(update={"decision": "reject"})) is not None


def test_a_code_attested_by_no_executor_or_edited_afterwards_is_refused(verifier, keys):
    assert "no attestation" in verifier.problem(CHANGE, code_attested_by(None))
    assert "no attestation" in verifier.problem(CHANGE, code_attested_by(keys["rogue"]))
    edited = code_attested_by(keys["worker"]).model_copy(update={"totp_step": 59_000_001})
    assert "does not verify" in verifier.problem(CHANGE, edited)

"""Enrolment and proof checks with real keys and real TOTP codes."""

import os
import stat
import time

import pytest
import yaml

from changeflow.adapters.credentials import ApproverCredentials, current_code, enrol, sign
from changeflow.domain.identity import decision_message
from changeflow.exceptions import InvalidSettings
from changeflow.services.approvals import check_proof
from changeflow.settings.loader import read_registry
from tests.fakes import FakeRecordStore

DIGEST = "a" * 64


@pytest.fixture
def enrolled(tmp_path):
    for name in ("carol", "dave"):
        enrol(name, tmp_path / "keys", tmp_path / "secrets.yaml", tmp_path / "registry.yaml")
    keys, authenticators = read_registry(tmp_path / "registry.yaml")
    return tmp_path, ApproverCredentials(keys, tmp_path / "secrets.yaml", authenticators, require_authenticator=True)


def test_enrolment_keeps_secrets_private_and_publishes_only_public_keys(enrolled):
    home, _ = enrolled
    assert (
        stat.S_IMODE(os.stat(home / "secrets.yaml").st_mode) == 0o600
        and stat.S_IMODE(os.stat(home / "keys" / "carol.pem").st_mode) == 0o600
    )
    registry = yaml.safe_load((home / "registry.yaml").read_text())
    assert set(registry["approvers"]) == {"carol", "dave"} and "PRIVATE" not in (home / "registry.yaml").read_text()
    with pytest.raises(InvalidSettings, match="not a plain name"):
        enrol("car ol; rm", home / "keys", home / "secrets.yaml", home / "registry.yaml")


def test_a_signature_counts_only_for_its_approver_change_decision_and_plan(enrolled):
    home, credentials = enrolled
    signature = sign(home / "keys" / "carol.pem", decision_message("CHG-1", True, DIGEST, "carol"))
    assert credentials.verify("CHG-1", "carol", True, DIGEST, signature=signature).valid
    assert not credentials.verify("CHG-1", "dave", True, DIGEST, signature=signature).valid  # carol's key, dave's name
    assert not credentials.verify("CHG-2", "carol", True, DIGEST, signature=signature).valid  # another change
    assert not credentials.verify("CHG-1", "carol", False, DIGEST, signature=signature).valid  # another decision
    assert not credentials.verify("CHG-1", "carol", True, "b" * 64, signature=signature).valid  # an edited plan
    assert not credentials.verify("CHG-1", "carol", True, DIGEST, signature="not base64!").valid
    assert "no enrolled public key" in credentials.verify("CHG-1", "mallory", True, DIGEST, signature=signature).reason


def test_a_one_time_code_is_the_approvers_current_one(enrolled):
    home, credentials = enrolled
    secret = yaml.safe_load((home / "secrets.yaml").read_text())["carol"]
    now = time.time()
    assert credentials.verify("CHG-1", "carol", True, DIGEST, code=current_code(secret, now), now=now).valid
    assert credentials.verify(
        "CHG-1", "carol", True, DIGEST, code=current_code(secret, now - 30), now=now
    ).valid  # clock skew
    assert not credentials.verify(
        "CHG-1", "carol", True, DIGEST, code=current_code(secret, now - 120), now=now
    ).valid  # expired
    assert not credentials.verify(
        "CHG-1", "dave", True, DIGEST, code=current_code(secret, now), now=now
    ).valid  # carol's code
    assert "no proof" in credentials.verify("CHG-1", "carol", True, DIGEST).reason


def test_a_secret_re_enrolled_without_a_bundle_change_counts_for_nothing(enrolled):
    """The bundle names each approver's authenticator (a commitment to the secret): re-enrolling carol in the
    executors' secrets file, the bundle unchanged, leaves her new codes refused; the bundle's new line makes them count."""
    home, credentials = enrolled
    registry = yaml.safe_load((home / "registry.yaml").read_text())  # what the bundle was signed with
    enrol(
        "carol", home / "again-keys", home / "secrets.yaml", home / "again-registry.yaml"
    )  # new secret, same secrets file
    secret = yaml.safe_load((home / "secrets.yaml").read_text())["carol"]
    now = time.time()
    refused = credentials.verify("CHG-1", "carol", True, DIGEST, code=current_code(secret, now), now=now)
    assert not refused.valid and "not the one the governance bundle names" in refused.reason
    assert (
        registry["approvers"]["carol"]["totp_sha256"]
        != yaml.safe_load((home / "again-registry.yaml").read_text())["approvers"]["carol"]["totp_sha256"]
    )
    keys, authenticators = read_registry(home / "again-registry.yaml")  # the maintainer adds the new line and re-signs
    renewed = ApproverCredentials(keys, home / "secrets.yaml", authenticators, require_authenticator=True)
    assert renewed.verify("CHG-1", "carol", True, DIGEST, code=current_code(secret, now), now=now).valid
    unnamed = ApproverCredentials(keys, home / "secrets.yaml", {}, require_authenticator=True)
    assert (
        "names no authenticator for carol"
        in unnamed.verify("CHG-1", "carol", True, DIGEST, code=current_code(secret, now), now=now).reason
    )


def test_a_proof_counts_once_and_only_on_the_plan_shown(enrolled):
    home, credentials = enrolled
    ledger = FakeRecordStore()
    signature = sign(home / "keys" / "carol.pem", decision_message("CHG-1", True, DIGEST, "carol"))
    args = dict(
        change_id="CHG-1",
        approver="carol",
        approve=True,
        digest=DIGEST,
        given_digest=DIGEST,
        code="",
        signature=signature,
    )
    assert check_proof(credentials, ledger, **args).valid
    assert "already used" in check_proof(credentials, ledger, **args).reason
    assert "another plan" in check_proof(credentials, ledger, **{**args, "given_digest": "b" * 64}).reason

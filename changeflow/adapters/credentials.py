"""Approvers' credentials: enrolment, and checking a decision's proof (``cryptography``).

Each approver has an Ed25519 key pair (the private key stays with them; the public key is in the
approvers' key registry, which governance carries) and a TOTP secret (RFC 6238, 6 digits, 30 s) in
their authenticator app and in a secrets file outside the repository (mode 0600), which only the
flow reads and which never goes on a record. ``changeflow approve`` signs; the Prefect UI form
carries a one-time code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from pathlib import Path

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from pydantic import BaseModel

from changeflow.domain.identity import Proof, decision_message, person
from changeflow.exceptions import InvalidSettings
from changeflow.ports import RecordStore
from changeflow.signing import generate_key, verify, write_private

STEP_S = 30
ISSUER = "changeflow"


class Enrolment(BaseModel):
    name: str
    provisioning_uri: str
    private_key: Path
    public_key: str
    authenticator: str  # the SHA-256 commitment to the TOTP secret, for the bundle's keys.yaml


def authenticator_digest(secret_b32: str) -> str:
    """The commitment the governance bundle keeps for an approver's one-time-code secret: a pinned executor
    counts a code only from the secret it names, so a secret re-enrolled without a bundle change counts for
    nothing (the secret is 160 random bits; its digest gives nothing away)."""
    return hashlib.sha256(b"changeflow-totp-v1\n" + secret_b32.strip().encode()).hexdigest()


def _totp(secret_b32: str) -> TOTP:
    return TOTP(base64.b32decode(secret_b32), 6, SHA1(), STEP_S, enforce_key_length=False)


def _read_yaml(path: Path) -> dict:
    return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.is_file() else {}


def enrol(name: str, keys_dir: Path, secrets_file: Path, registry_file: Path) -> Enrolment:
    """A new key pair and TOTP secret for ``name``: the private key and secret written 0600, the public
    key added to the registry. Enrolling again replaces both (a lost key is re-enrolled)."""
    who = person(name)
    if not who or not who.replace("-", "").replace("_", "").replace(".", "").isalnum() or not who.isascii():
        raise InvalidSettings(
            "approvers enrol",
            "NAME",
            f"{name[:40]!r} is not a plain name",
            "use letters, digits, '.', '-' or '_', e.g. carol",
        )
    private = keys_dir / f"{who}.pem"
    public = generate_key(private)
    secret = base64.b32encode(os.urandom(20)).decode()
    registry = _read_yaml(registry_file)
    registry.setdefault("approvers", {})[who] = {"ed25519": public, "totp_sha256": authenticator_digest(secret)}
    registry_file.parent.mkdir(parents=True, exist_ok=True)
    registry_file.write_text(yaml.safe_dump(registry, sort_keys=True), encoding="utf-8")
    secrets = _read_yaml(secrets_file)
    replaced = who in secrets
    secrets[who] = secret  # the old secret is revoked: codes from the old authenticator entry no longer count
    write_private(secrets_file, yaml.safe_dump(secrets, sort_keys=True))
    _log_enrolment(secrets_file, who, public, replaced)
    return Enrolment(
        name=who,
        provisioning_uri=_totp(secret).get_provisioning_uri(who, ISSUER),
        private_key=private,
        public_key=public,
        authenticator=authenticator_digest(secret),
    )


def _log_enrolment(secrets_file: Path, who: str, public: str, replaced: bool) -> None:
    """Append who (re-)enrolled whom, when, and the new key's ID to ``enrolments.log`` beside the secrets
    (append-only by convention, worker-only like them), and announce it as a Prefect event when a server is
    configured: a re-enrolment is visible, never silent."""
    import getpass
    import json
    import socket
    from datetime import datetime, timezone

    from changeflow.signing import key_id

    entry = {
        "at": datetime.now(timezone.utc).isoformat(),
        "approver": who,
        "by": f"{getpass.getuser()}@{socket.gethostname()}",
        "key_id": key_id(public),
        "replaced": replaced,
    }
    with open(secrets_file.parent / "enrolments.log", "a", encoding="utf-8") as log:
        log.write(json.dumps(entry) + "\n")
    if not os.environ.get("PREFECT_API_URL"):
        return  # no Prefect server configured: the log line is the record
    try:
        from prefect.events import emit_event

        emit_event(
            event="changeflow.approver.re-enrolled" if replaced else "changeflow.approver.enrolled",
            resource={"prefect.resource.id": f"changeflow.approver.{who}"},
            payload=entry,
        )
    except Exception:  # a server that does not answer: the log line is the record
        pass


def sign(private_key: Path, message: bytes, command: str = "approve") -> str:
    try:
        key = serialization.load_pem_private_key(private_key.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise InvalidSettings(
            command,
            "--key",
            f"{private_key} is not a readable private key ({exc.__class__.__name__})",
            "enrol with `changeflow approvers enrol NAME` or pass --key",
        ) from None
    return base64.b64encode(key.sign(message)).decode()


def current_code(secret_b32: str, at: float | None = None) -> str:
    """The one-time code an authenticator shows now (for the demo's and the tests' own approvers)."""
    return _totp(secret_b32).generate(at if at is not None else time.time()).decode()


class ApproverCredentials:
    """Checks a decision's proof against the approver's enrolled credentials."""

    def __init__(
        self,
        keys: dict[str, str],
        secrets_file: Path,
        authenticators: dict[str, str] | None = None,
        require_authenticator: bool = False,
    ) -> None:
        """``authenticators``: approver -> commitment to their secret (the bundle's ``totp_sha256``); with
        ``require_authenticator`` (an executor pinning governance keys) a code counts only from a secret the
        bundle names."""
        self.keys, self.secrets_file = keys, secrets_file
        self.authenticators, self.require_authenticator = authenticators or {}, require_authenticator

    def verify(
        self,
        change_id: str,
        approver: str,
        approve: bool,
        digest: str,
        code: str = "",
        signature: str = "",
        now: float | None = None,
    ) -> Proof:
        who = person(approver)
        if signature.strip():
            return self._signature(change_id, who, approve, digest, signature.strip())
        if code.strip():
            return self._code(who, code.strip(), now if now is not None else time.time())
        return Proof.refused(
            "none",
            "no proof of identity: a one-time code (Prefect UI) or a signature (`changeflow approve`) is required",
        )

    def _signature(self, change_id: str, who: str, approve: bool, digest: str, signature: str) -> Proof:
        if who not in self.keys:
            return Proof.refused("ed25519", f"{who} has no enrolled public key")
        if not verify(self.keys[who], decision_message(change_id, approve, digest, who), signature):
            return Proof.refused("ed25519", f"the signature is not {who}'s over this change, decision and plan")
        return Proof(
            kind="ed25519",
            valid=True,
            reason=f"signed by {who}'s key",
            ledger_key="ed25519:" + hashlib.sha256(signature.encode()).hexdigest(),
        )

    def _code(self, who: str, code: str, now: float) -> Proof:
        secret = _read_yaml(self.secrets_file).get(who)
        if not secret:
            return Proof.refused("totp", f"{who} has no enrolled authenticator")
        named = self.authenticators.get(who)
        if named is None and self.require_authenticator:
            return Proof.refused(
                "totp", f"the governance bundle names no authenticator for {who} (keys.yaml totp_sha256)"
            )
        if named is not None and not hmac.compare_digest(authenticator_digest(str(secret)), named):
            return Proof.refused(
                "totp",
                f"{who}'s authenticator is not the one the governance bundle names (re-enrolled without a reviewed bundle change)",
            )
        totp = _totp(secret)
        for step in (0, -1, 1):  # the current 30 s step, and one either side for clock skew
            at = now + step * STEP_S
            if hmac.compare_digest(totp.generate(at).decode(), code):
                return Proof(
                    kind="totp",
                    valid=True,
                    reason=f"{who}'s one-time code",
                    ledger_key=f"totp:{who}:{int(at // STEP_S)}",
                    step=int(at // STEP_S),
                )
        return Proof.refused("totp", f"the one-time code is not {who}'s current code")


def signed_proof(
    records: RecordStore, keys_dir: Path, change_id: str, approver: str, approve: bool, key: Path | None = None
) -> dict:
    """What ``changeflow approve`` sends: the plan digest on the change's record, and the approver's
    signature over change, decision and that digest (made with their private key)."""
    from changeflow.domain.identity import DOUBT_DIGEST, PLAN_DIGEST
    from changeflow.domain.record import State

    record = records.load(change_id)
    asked = (
        record.state is State.VERIFYING and DOUBT_DIGEST in record.attachments
    )  # a doubtful bake waits for a decision
    digest = record.attachments.get(DOUBT_DIGEST if asked else PLAN_DIGEST, "")
    if not digest:
        raise InvalidSettings(
            "approve",
            "ID",
            f"{change_id} has no plan digest on its record yet",
            "wait until it asks for approval (--wait)",
        )
    who = person(approver)
    return {
        "plan_digest": digest,
        "signature": sign(key or keys_dir / f"{who}.pem", decision_message(change_id, approve, digest, who)),
    }


def signed_review(
    records: RecordStore, keys_dir: Path, change_id: str, reviewer: str, summary: str, key: Path | None = None
) -> str:
    """What ``changeflow review`` sends as proof: the reviewer's signature over the change, their name, the
    SHA-256 of the summary and the plan digest on the change's record (``identity.review_message``)."""
    from changeflow.domain.identity import PLAN_DIGEST, review_message

    who = person(reviewer)
    digest = records.load(change_id).attachments.get(PLAN_DIGEST, "")
    return sign(key or keys_dir / f"{who}.pem", review_message(change_id, who, summary, digest), "review")

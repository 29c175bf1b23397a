"""Governance: the rules changes are governed by — approvers, their public keys and the executors', the
standard catalog, the calendar, timeouts, and where change events go. An executor reads it from its own
governance bundle (``settings.bundle`` checks it and reads its keys, ``settings.loader`` loads it), never
from what a requester sends."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from changeflow.domain.bundle import BundleSeal
from changeflow.domain.catalog import Catalog
from changeflow.domain.comparison import Verification
from changeflow.domain.drift import DriftPolicy
from changeflow.domain.policy import Approvers
from changeflow.domain.windows import Calendar
from changeflow.signing import valid_public_key


class IncidentEvents(BaseModel):
    """Outgoing change events (PagerDuty Events v2 change-event shape) posted at execute / close / rollback."""

    model_config = ConfigDict(extra="forbid")
    url: str
    routing_key: str = ""
    attempts: int = Field(3, ge=1, le=10)
    link: str | None = Field(None, description="a URL to the change, e.g. the Prefect UI")


class PublicKey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    ed25519: str = Field(description="the Ed25519 public key, base64 of its 32 bytes")
    totp_sha256: str = Field(
        "",
        description="approvers: the SHA-256 commitment to their one-time-code secret (`approvers enrol` prints it); "
        "a pinned executor counts a code only from the secret the bundle names",
    )

    @field_validator("totp_sha256")
    @classmethod
    def _a_digest(cls, value: str) -> str:
        value = value.strip().lower()
        if value and not re.fullmatch(r"[0-9a-f]{64}", value):
            raise ValueError("is not a SHA-256 digest (64 hex digits, as `changeflow approvers enrol` prints it)")
        return value

    @field_validator("ed25519")
    @classmethod
    def _a_key(cls, value: str) -> str:
        if not valid_public_key(value.strip()):
            raise ValueError("is not an Ed25519 public key (base64 of 32 bytes)")
        return value.strip()


class KeyRing(BaseModel):
    """``keys.yaml`` in the bundle: whose signatures count. Approvers sign decisions; executors (the
    workers' service identities) sign record versions and one-time-code attestations."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    approvers: dict[str, PublicKey] = Field(default_factory=dict)
    executors: dict[str, PublicKey] = Field(default_factory=dict)


class GovernanceSettings(BaseModel):
    """``governance.yaml`` in the bundle: timeouts, notifications and whether proofs are required. Part of
    the sealed bundle like the rest: a requester cannot turn proofs off or stretch a timeout."""

    model_config = ConfigDict(extra="forbid")
    approval_timeout_s: int = Field(3600, ge=1, description="no decision in this time: the change expires")
    approval_poll_s: int = Field(2, ge=1, le=60, description="how often a paused change looks for a decision")
    approval_overdue_s: int = Field(
        1800, ge=1, description="a change waiting this long for approval emits changeflow.approval.overdue"
    )
    expected_duration_minutes: int = Field(30, ge=1, le=1440, description="slot length a change needs")
    lock_timeout_s: int = Field(3600, ge=1, description="how long a change waits for another change to the same model")
    incident_events: IncidentEvents | None = None
    notify_approvers: list[str] = Field(
        default_factory=list, description="Apprise URLs told when a change waits for approval and when it is overdue"
    )
    require_proof: bool = Field(True, description="a decision counts only with a valid one-time code or signature")


class Governance(GovernanceSettings):
    approvers: Approvers = Field(default_factory=Approvers)
    catalog: Catalog = Field(default_factory=Catalog)
    calendar: Calendar = Field(default_factory=Calendar)
    approver_keys: dict[str, str] = Field(
        default_factory=dict, description="approver -> Ed25519 public key (base64), from the bundle's keys.yaml"
    )
    executor_keys: dict[str, str] = Field(
        default_factory=dict, description="executor -> Ed25519 public key (base64): whose record versions verify"
    )
    authenticators: dict[str, str] = Field(
        default_factory=dict, description="approver -> SHA-256 commitment to their one-time-code secret, from keys.yaml"
    )
    verification: Verification = Field(
        default_factory=Verification, description="how a bake is judged, and what a doubtful one does per change type"
    )
    drift: DriftPolicy = Field(
        default_factory=DriftPolicy,
        description="what an unauthorized change does, per model: record (default) or revert",
    )
    bundle: BundleSeal | None = Field(
        None, description="the bundle it was read from, its digest and signer; None: built in memory"
    )

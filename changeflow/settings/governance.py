"""Governance: the rules changes are governed by — approvers, the standard catalog, the calendar,
timeouts, and where change events go. Serializable, so a Prefect deployment can carry it as a parameter."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from changeflow.domain.catalog import Catalog
from changeflow.domain.comparison import Verification
from changeflow.domain.drift import DriftPolicy
from changeflow.domain.policy import Approvers
from changeflow.domain.windows import Calendar


class IncidentEvents(BaseModel):
    """Outgoing change events (PagerDuty Events v2 change-event shape) posted at execute / close / rollback."""

    model_config = ConfigDict(extra="forbid")
    url: str
    routing_key: str = ""
    attempts: int = Field(3, ge=1, le=10)
    link: str | None = Field(None, description="a URL to the change, e.g. the Prefect UI")


class Governance(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approvers: Approvers = Field(default_factory=Approvers)
    catalog: Catalog = Field(default_factory=Catalog)
    calendar: Calendar = Field(default_factory=Calendar)
    approval_timeout_s: int = Field(3600, ge=1, description="no decision in this time: the change expires")
    approval_poll_s: int = Field(2, ge=1, le=60, description="how often a paused change looks for a decision")
    approval_overdue_s: int = Field(1800, ge=1, description="a change waiting this long for approval emits changeflow.approval.overdue")
    expected_duration_minutes: int = Field(30, ge=1, le=1440, description="slot length a change needs")
    lock_timeout_s: int = Field(3600, ge=1, description="how long a change waits for another change to the same model")
    incident_events: IncidentEvents | None = None
    notify_approvers: list[str] = Field(default_factory=list, description="Apprise URLs told when a change waits for approval and when it is overdue")
    approver_keys: dict[str, str] = Field(default_factory=dict, description="approver -> Ed25519 public key (base64), from the key registry")
    require_proof: bool = Field(True, description="a decision counts only with a valid one-time code or signature")
    verification: Verification = Field(default_factory=Verification, description="how a bake is judged, and what a doubtful one does per change type")
    drift: DriftPolicy = Field(default_factory=DriftPolicy, description="what an unauthorized change does, per model: record (default) or revert")

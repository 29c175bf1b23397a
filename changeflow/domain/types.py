"""The closed vocabularies of a change: type, risk, kind, lifecycle state."""

from __future__ import annotations

from enum import StrEnum


class ChangeType(StrEnum):
    """How a change is governed (DESIGN.md, change model)."""

    STANDARD = "standard"  # low risk, pre-approved template, business hours
    NORMAL = "normal"  # medium risk, change advisory board quorum, off-hours or maintenance
    EMERGENCY = "emergency"  # high risk, one expedited approver, any time, post-implementation review


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return _RISK_RANK[self]


_RISK_RANK = {Risk.LOW: 0, Risk.MEDIUM: 1, Risk.HIGH: 2}


class ChangeKind(StrEnum):
    """What a change does to the inference system."""

    MODEL_DEPLOYMENT = "model_deployment"  # a new model version on Triton
    CONFIG_CHANGE = "config_change"  # edit a model's config.pbtxt and reload
    TRITON_UPGRADE = "triton_upgrade"  # new Triton image on a Kubernetes Deployment
    BLUE_GREEN = "blue_green"  # a green Deployment beside blue, then switch the Service


class State(StrEnum):
    """Lifecycle states of a change (see ``lifecycle.TRANSITIONS``)."""

    REQUESTED = "requested"
    ASSESSED = "assessed"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    EXECUTING = "executing"
    VERIFYING = "verifying"
    REVIEW_PENDING = "review_pending"  # emergency changes: done, post-implementation review owed
    CLOSED = "closed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    ABORTED = "aborted"  # failed before production was touched
    ROLLED_BACK = "rolled_back"  # production restored to the previous state, then verified

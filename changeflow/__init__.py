"""changeflow: change management for mission-critical AI inference, on Prefect and NVIDIA Triton.

The library surface is what ``__all__`` names; everything else lives in private-by-convention rooms:
``domain`` (pure rules), ``kinds`` (one module per change kind), ``services`` (orchestration helpers
without Prefect), ``adapters`` (one module per real system), ``settings``, ``render``, ``local`` (local
servers for the demo and tests), ``cli``; the Prefect flows and tasks are ``changeflow.flows`` and
``changeflow.tasks``. See docs/architecture.md.
"""

from changeflow import kinds as _kinds  # binds every kind's spec into ChangeRequest; import first
from changeflow.bootstrap import Services, bootstrap
from changeflow.domain.policy import ChangePlan
from changeflow.domain.record import ChangeRecord, ChangeResult, RollbackResult, State
from changeflow.domain.request import ChangeRequest, ChangeSpec, ChangeType, Risk
from changeflow.domain.verdicts import Outcome, Verdict
from changeflow.exceptions import (
    ChangeCancelled,
    ChangeflowError,
    ChangeStateError,
    ClusterError,
    ConfigError,
    IllegalTransition,
    InvalidChangeRequest,
    InvalidInput,
    InvalidSettings,
    NotWaitingForApproval,
    PrefectUnavailable,
    RecordNotFound,
    RecordStoreError,
    RollbackFailed,
    ServerError,
    UnknownKind,
)
from changeflow.kinds import ChangeKind, kind_of, plan_for
from changeflow.settings.environment import Environment
from changeflow.settings.governance import Governance
from changeflow.settings.loader import load_change_request, load_governance

__version__ = "0.2.0"

__all__ = [
    "ChangeCancelled",
    "ChangeKind",
    "ChangePlan",
    "ChangeRecord",
    "ChangeRequest",
    "ChangeResult",
    "ChangeSpec",
    "ChangeStateError",
    "ChangeType",
    "ChangeflowError",
    "ClusterError",
    "ConfigError",
    "Environment",
    "Governance",
    "IllegalTransition",
    "InvalidChangeRequest",
    "InvalidInput",
    "InvalidSettings",
    "NotWaitingForApproval",
    "Outcome",
    "PrefectUnavailable",
    "RecordNotFound",
    "RecordStoreError",
    "Risk",
    "RollbackFailed",
    "RollbackResult",
    "ServerError",
    "Services",
    "State",
    "UnknownKind",
    "Verdict",
    "bootstrap",
    "kind_of",
    "load_change_request",
    "load_governance",
    "plan_for",
    "__version__",
]
del _kinds

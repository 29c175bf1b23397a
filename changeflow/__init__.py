"""changeflow: change management for mission-critical AI inference, on Prefect and NVIDIA Triton.

The library surface is what ``__all__`` names; everything else lives in private-by-convention rooms:
``domain`` (pure rules), ``kinds`` (one module per change kind), ``services`` (orchestration helpers
without Prefect), ``adapters`` (one module per real system), ``settings``, ``render``, ``local`` (local
servers for the demo and tests), ``cli``; the Prefect flows and tasks are ``changeflow.flows`` and
``changeflow.tasks``. See docs/architecture.md.

The surface loads on first use (PEP 562): ``import changeflow.cli`` for ``changeflow list`` must not pay
for the kinds, numpy and tritonclient (about a second). Whatever name is asked for first, the kinds
registry loads before it, since it binds every kind's spec into ``ChangeRequest``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# Bound now, not on first use: ``bootstrap`` is also a submodule's name, and once anything imports
# ``changeflow.bootstrap`` the module would shadow a lazily loaded function of the same name.
from changeflow.bootstrap import Services, bootstrap  # noqa: E402

_HOMES = {  # name -> the module that defines it
    "ChangePlan": "changeflow.domain.policy",
    "ChangeRecord": "changeflow.domain.record",
    "ChangeResult": "changeflow.domain.record",
    "RollbackResult": "changeflow.domain.record",
    "State": "changeflow.domain.record",
    "ChangeRequest": "changeflow.domain.request",
    "ChangeSpec": "changeflow.domain.request",
    "ChangeType": "changeflow.domain.request",
    "Risk": "changeflow.domain.request",
    "Outcome": "changeflow.domain.verdicts",
    "Verdict": "changeflow.domain.verdicts",
    **{
        name: "changeflow.exceptions"
        for name in (
            "ChangeCancelled",
            "ChangeflowError",
            "ChangeStateError",
            "ClusterError",
            "ConfigError",
            "IllegalTransition",
            "InvalidChangeRequest",
            "InvalidInput",
            "InvalidSettings",
            "NotWaitingForApproval",
            "PrefectUnavailable",
            "RecordNotFound",
            "RecordStoreError",
            "RollbackFailed",
            "ServerError",
            "UnknownKind",
        )
    },
    "ChangeKind": "changeflow.kinds",
    "kind_of": "changeflow.kinds",
    "plan_for": "changeflow.kinds",
    "Environment": "changeflow.settings.environment",
    "Governance": "changeflow.settings.governance",
    "load_change_request": "changeflow.settings.loader",
    "load_governance": "changeflow.settings.loader",
}

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


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'changeflow' has no attribute {name!r}")
    importlib.import_module("changeflow.kinds")  # binds every kind's spec into ChangeRequest first
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # what type checkers and editors see
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

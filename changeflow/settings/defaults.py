"""Settings for flows started without explicit ones (a Prefect deployment run from the UI, a schedule):
the environment file that ``changeflow serve`` / ``changeflow triton up --staging`` write, and the
governance folder. ``CHANGEFLOW_ENVIRONMENT`` and ``CHANGEFLOW_GOVERNANCE`` override both.

Where each is found, and every other ``CHANGEFLOW_*`` variable, is ``variables`` (its names are offered
here too); this module loads what they name."""

from __future__ import annotations

from changeflow.settings.environment import Environment
from changeflow.settings.governance import Governance
from changeflow.settings.loader import load_governance
from changeflow.settings.strict_yaml import load_settings_file
from changeflow.settings.variables import (
    CHECKPOINTS,
    CLOCK,
    ENVIRONMENT_FILE,
    EXECUTOR_KEY,
    GOVERNANCE_KEYS,
    SCHEDULING_CLOCK,
    approver_keys_dir,
    approver_registry,
    approver_secrets,
    changeflow_home,
    checkpoints_dir,
    environment_path,
    executor_clock,
    executor_key,
    golden_roots,
    governance_dir,
    governance_pins,
    scheduling_clock,
)

__all__ = [
    "CHECKPOINTS",
    "CLOCK",
    "ENVIRONMENT_FILE",
    "EXECUTOR_KEY",
    "GOVERNANCE_KEYS",
    "SCHEDULING_CLOCK",
    "approver_keys_dir",
    "approver_registry",
    "approver_secrets",
    "changeflow_home",
    "checkpoints_dir",
    "environment_or_default",
    "environment_path",
    "executor_clock",
    "executor_key",
    "golden_roots",
    "governance_dir",
    "governance_or_default",
    "governance_pins",
    "scheduling_clock",
]


def environment_or_default(environment: Environment | None = None) -> Environment:
    return environment if environment is not None else load_settings_file(environment_path(), Environment)


def governance_or_default(governance: Governance | None = None) -> Governance:
    return governance if governance is not None else load_governance(governance_dir())

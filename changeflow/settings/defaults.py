"""Settings for flows started without explicit ones (a Prefect deployment run from the UI, a schedule):
the environment file that ``changeflow serve`` / ``changeflow triton up --staging`` write, and the
governance folder. ``CHANGEFLOW_ENVIRONMENT`` and ``CHANGEFLOW_GOVERNANCE`` override both.

Where each is found, and every other ``CHANGEFLOW_*`` variable, is ``variables`` (its names are offered
here too); this module loads what they name."""

from __future__ import annotations

from typing import TYPE_CHECKING

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

if TYPE_CHECKING:  # loaded when asked for: a command that reads records never pays for governance's models
    from changeflow.settings.environment import Environment
    from changeflow.settings.governance import Governance

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
    "display_zone",
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
    from changeflow.settings.environment import Environment
    from changeflow.settings.strict_yaml import load_settings_file

    return environment if environment is not None else load_settings_file(environment_path(), Environment)


def governance_or_default(governance: Governance | None = None) -> Governance:
    from changeflow.settings.loader import load_governance

    return governance if governance is not None else load_governance(governance_dir())


def display_zone():
    """The time zone people read times in: the governance calendar's, from ``calendar.yaml`` alone (the
    strict loader: a duplicate key or an unknown zone is refused). Showing a time decides nothing and every
    time shown names its zone, so a reader such as ``changeflow list`` does not load and verify the whole
    bundle for it (about a second); an executor's record pages use its verified governance instead
    (``bootstrap``). UTC when the file or the zone cannot be read here."""
    from datetime import timezone

    from changeflow.domain.windows import Calendar
    from changeflow.settings.strict_yaml import load_settings_file

    try:
        return load_settings_file(governance_dir() / "calendar.yaml", Calendar).zone
    except Exception:
        return timezone.utc

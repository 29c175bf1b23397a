"""Defaults for flows started without explicit settings (e.g. from ``deployments/prefect.yaml``):
the site file ``changeflow triton up --staging`` / ``changeflow serve`` writes, and the governance files."""

from __future__ import annotations

import os
from pathlib import Path

from changeflow import paths
from changeflow.environment import Environment
from changeflow.governance import Governance


def site_path() -> Path:
    return Path(os.environ.get("CHANGEFLOW_SITE", paths.PROJECT_ROOT / ".changeflow" / "site.yaml"))


def load_site(environment: Environment | None = None) -> Environment:
    from changeflow.loader import load_model_file

    return environment if environment is not None else load_model_file(site_path(), Environment)


def load_rules(governance: Governance | None = None) -> Governance:
    from changeflow.loader import load_governance

    return governance if governance is not None else load_governance(os.environ.get("CHANGEFLOW_GOVERNANCE", paths.EXAMPLES))

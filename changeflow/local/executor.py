"""A local executor's own configuration (``changeflow serve``, the drills, the tests' workers): the
environment file, a governance bundle sealed by a maintainer key made for this installation, the
executor's record-signing key, and the clock when a demo or test sets one, as the variables a worker
process starts with. None of it is a run parameter: a requester's run carries the change request only.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path

import yaml

from changeflow.settings import paths
from changeflow.settings.bundle import seal, write_bundle
from changeflow.settings.environment import Environment
from changeflow.settings.governance import Governance
from changeflow.signing import PrivateKey, generate_key

EXECUTOR_NAME = "local-executor"


def executor_configuration(
    home: Path,
    environment: Environment,
    governance: Governance,
    clock: datetime | dict[str, datetime] | None = None,
    golden_from: Path | None = None,
) -> dict[str, str]:
    """Write the executor's configuration under ``home`` (worker-only files) and return the variables a
    worker starts with. The governance given is written out as a bundle, with this executor's public key
    in its ``keys.yaml``, and sealed by a maintainer key whose public half the worker pins. ``golden_from``:
    the governance folder whose ``golden/`` sets go beside the bundle, so that a request's relative
    golden-set path (the Run form's ``golden/MODEL.json``) is read there."""
    home.mkdir(parents=True, exist_ok=True)
    environment_file = home / "environment.yaml"
    environment_file.write_text(yaml.safe_dump(environment.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
    executor_pem = Path(
        os.environ.get("CHANGEFLOW_EXECUTOR_KEY") or home / "executor.pem"
    )  # one already configured is kept
    maintainer_pem = home / "maintainer.pem"
    executor_public = PrivateKey.load(executor_pem).public if executor_pem.is_file() else generate_key(executor_pem)
    if not maintainer_pem.is_file():
        generate_key(maintainer_pem)
    maintainer = PrivateKey.load(maintainer_pem)
    keyed = governance.model_copy(
        update={"executor_keys": {**governance.executor_keys, EXECUTOR_NAME: executor_public}, "bundle": None}
    )
    bundle = write_bundle(keyed, home / "governance")
    seal(bundle, maintainer)
    if golden_from is not None and (golden_from / "golden").is_dir():
        shutil.copytree(golden_from / "golden", bundle / "golden", dirs_exist_ok=True)
    roots = [str(paths.EXAMPLES), *[p for p in os.environ.get("CHANGEFLOW_GOLDEN_ROOTS", "").split(os.pathsep) if p]]
    env = {
        "CHANGEFLOW_ENVIRONMENT": str(environment_file),
        "CHANGEFLOW_GOVERNANCE": str(bundle),
        "CHANGEFLOW_GOVERNANCE_KEYS": maintainer.public,
        "CHANGEFLOW_EXECUTOR_KEY": str(executor_pem),
        "CHANGEFLOW_GOLDEN_ROOTS": os.pathsep.join(roots),  # the shipped golden sets stay readable beside the bundle
    }
    if isinstance(clock, dict):  # one clock per change type, e.g. {"normal": night, "standard": morning}
        env["CHANGEFLOW_CLOCK"] = ",".join(f"{kind}={moment.isoformat()}" for kind, moment in clock.items())
    elif clock is not None:
        env["CHANGEFLOW_CLOCK"] = clock.isoformat()
    return env

"""Approvers enrolled for one run (the demo, the benchmarks): keys, TOTP secrets and the public-key
registry in a temporary folder, and the run's executor key, named by the ``CHANGEFLOW_*`` variables while
the run lasts."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def enrolled_approvers(names: list[str], executor: bool = True):
    """The demo's own approvers, enrolled for this run in a temporary folder (keys, TOTP secrets, public
    keys), as a team's approvers are: their decisions are signed, not typed. ``executor``: this process also
    executes (a benchmark) and gets the run's record-signing key; the demo's requester process does not."""
    from changeflow.adapters.credentials import enrol

    home = Path(tempfile.mkdtemp(prefix="changeflow-demo-approvers-"))
    paths_ = {
        "CHANGEFLOW_KEYS": home / "keys",
        "CHANGEFLOW_APPROVER_SECRETS": home / "secrets.yaml",
        "CHANGEFLOW_APPROVER_KEYS": home / "keys.yaml",
    }
    if executor:  # this run is the executor: its record versions are signed
        paths_["CHANGEFLOW_EXECUTOR_KEY"] = home / "executor.pem"
    saved = {k: os.environ.get(k) for k in paths_}
    os.environ.update({k: str(v) for k, v in paths_.items()})
    try:
        from changeflow.signing import generate_key

        if executor:
            generate_key(paths_["CHANGEFLOW_EXECUTOR_KEY"])
        for name in names:
            enrol(
                name,
                paths_["CHANGEFLOW_KEYS"],
                paths_["CHANGEFLOW_APPROVER_SECRETS"],
                paths_["CHANGEFLOW_APPROVER_KEYS"],
            )
        yield paths_["CHANGEFLOW_KEYS"]
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
        shutil.rmtree(home, ignore_errors=True)

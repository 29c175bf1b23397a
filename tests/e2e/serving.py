"""`changeflow serve` exactly as a user runs it, from a folder of their own: its own Prefect server (on a
private PostgreSQL where one can start, behind a credential), Tritons, the deployments, a worker."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SERVE_SAYS = (  # what `changeflow serve` prints for the user to copy, one line each
    r"export PREFECT_API_URL=(\S+)\)",
    r"export PREFECT_API_AUTH_STRING='([^']+)'\)",
    r"Prefect's database: (.*)",
)


@dataclass
class Served:
    api: str
    auth: str  # the credential the API and the UI ask for
    database: str  # serve's line naming Prefect's database
    log: Path


@contextmanager
def serving_as_a_user(folder: Path, *options: str) -> Iterator[Served]:
    """``changeflow serve OPTIONS`` run from ``folder`` until ready; stopped with Ctrl-C (SIGINT) after."""
    env = {
        **os.environ,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "CHANGEFLOW_CLOCK": "normal=2026-11-25T22:00:00+01:00",
    }  # the worker's clock, for the test only; never a run parameter
    for name in ("PREFECT_API_URL", "PREFECT_API_AUTH_STRING", "CHANGEFLOW_RECORDS_URL"):
        env.pop(name, None)  # serve starts its own server; the records go to .changeflow/records.db in folder
    log_path = folder / "serve.log"
    log = open(log_path, "w")
    command = [shutil.which("changeflow", path=str(Path(sys.executable).parent)) or "changeflow", "serve", *options]
    process = subprocess.Popen(
        command, env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 240
        while "ready." not in log_path.read_text():
            assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()[-2000:]
            time.sleep(0.5)
        said = log_path.read_text()
        lines = [re.search(pattern, said) for pattern in SERVE_SAYS]
        assert all(lines), f"serve did not print its URL, credential and database on one line each: {said[:1500]}"
        yield Served(*(line.group(1) for line in lines), log_path)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def wait_until_ended(store, change_id: str, log: Path, timeout_s: float = 240):
    """The change's terminal record (``store()`` opens the record database); otherwise fail with what its
    record holds and the worker's last lines."""
    from changeflow.local.drills import await_record

    try:
        return await_record(store(), change_id, lambda record: record.is_terminal, timeout_s, poll_s=1.0)
    except TimeoutError as exc:  # its decisions too: a lost click shows as a missing one
        record = await_record(store(), change_id, lambda record: True, timeout_s=1.0)
        held = [(a.approver, a.decision, a.counted, a.refusal) for a in record.approvals]
        raise AssertionError(f"{exc}; decisions {held}\n{log.read_text()[-3000:]}") from None

"""Several Prefect workers on one process work pool, each its own process (group) with its own log: how
changeflow scales past one executor, run here for the distributed tests and ``bench/scale.py``.

Each is the guarded process worker (``adapters.prefect_worker``): it runs only changeflow's own
deployments, as deployed. A worker's flow runs are child processes; ``kill(i)`` SIGKILLs worker ``i`` and
every process it started, as a host going down would. Which worker ran a flow run is read from the
workers' logs.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from changeflow.local.processes import die_with_parent, signal_group
from changeflow.services.orphans import process_gone


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except OSError:
                continue
    return found


class LocalWorkers:
    def __init__(
        self,
        pool: str,
        count: int = 2,
        env: dict[str, str] | None = None,
        limit: int | None = None,
        poll_s: float = 1.0,
    ) -> None:
        self.pool, self.count, self.limit = pool, count, limit
        self.env = {
            **os.environ,
            **(env or {}),
            "PREFECT_WORKER_QUERY_SECONDS": str(poll_s),
            "PREFECT_WORKER_PREFETCH_SECONDS": "0",
        }
        self.dir = Path(tempfile.mkdtemp(prefix="changeflow-workers-"))
        self.env["TMPDIR"] = str(
            self.dir
        )  # Prefect's per-run folders (runner_storage, workspaces) go, and are removed, with ours
        self.processes: list[subprocess.Popen] = []

    def name(self, index: int) -> str:
        return f"{self.pool}-worker-{index}"

    def log(self, index: int) -> Path:
        return self.dir / f"{self.name(index)}.log"

    def __enter__(self) -> LocalWorkers:
        from changeflow.adapters.prefect_worker import worker_command
        from changeflow.local.serve import FLOWS, flows_source

        for index in range(self.count):  # guarded: only changeflow's own deployments, as deployed (#23)
            argv = worker_command(
                self.pool,
                flows_source(),
                [entrypoint for entrypoint, _ in FLOWS],
                name=self.name(index),
                limit=self.limit,
            )
            with open(self.log(index), "wb") as log:
                self.processes.append(
                    subprocess.Popen(
                        argv,
                        env=self.env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                        preexec_fn=die_with_parent,
                    )
                )
        return self

    def ran(self, flow_run_id: str) -> list[int]:
        """The workers that took ``flow_run_id``: submitted it and were not refused it (another worker can
        try the same run and be told it is taken: "Aborted submission")."""
        taken = []
        for i in range(self.count):
            log = self.log(i).read_text(errors="replace") if self.log(i).exists() else ""
            if (
                f"submitting flow run '{flow_run_id}'" in log
                and f"Aborted submission of flow run '{flow_run_id}'" not in log
            ):
                taken.append(i)
        return taken

    def _descendants(self, pid: int) -> list[int]:
        found, frontier = [], [pid]
        while frontier:
            children = _children(frontier.pop())
            found += children
            frontier += children
        return found

    def kill(self, index: int) -> None:
        """SIGKILL worker ``index`` and everything it started (its flow runs live in their own sessions)."""
        process = self.processes[index]
        descendants = self._descendants(process.pid)
        signal_group(process.pid, signal.SIGKILL)
        for pid in descendants:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.wait()
        deadline = time.monotonic() + 10  # SIGKILL is delivered, not yet done: wait until each is dead (or a zombie)
        while any(not process_gone(str(pid)) for pid in descendants) and time.monotonic() < deadline:
            time.sleep(0.1)

    def __exit__(self, *exc) -> None:
        left = [pid for process in self.processes for pid in self._descendants(process.pid)]  # before they are orphaned
        for process in self.processes:
            if process.poll() is None:
                signal_group(process.pid, signal.SIGTERM)
        for index, process in enumerate(self.processes):
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill(index)
        for pid in left:  # flow runs still going after their worker stopped
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

"""Fault drills: a governed change's executor is killed (SIGKILL) at a chosen step, and nobody does
anything after: how long until production is back on the known-good version, the record terminal and
the model's lock free? Shared by the fault tests and ``bench/faults.py``.

The installation is the one ``changeflow serve`` makes (deployments on a process work pool, a worker
whose runs send heartbeats, the recovery automations), with the safety net's schedule off so that only
the automations can start it.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel

import changeflow.kinds  # noqa: F401 (binds the kinds' specs into the records' requests it parses)
from changeflow.domain.record import ChangeRecord
from changeflow.domain.request import ChangeRequest
from changeflow.exceptions import RecordNotFound
from changeflow.ports import ModelLocks, ModelServer, RecordStore
from changeflow.settings.environment import Environment
from changeflow.settings.governance import Governance

POOL = "changeflow-drill"


class Installation:
    """``changeflow serve``'s deployments, automations and worker on the current Prefect API (a context).
    ``environment`` and ``governance`` become the worker's own configuration (a sealed bundle), never
    parameters of the runs."""

    def __init__(
        self, environment: Environment, governance: Governance, pool: str = POOL, drift_every_s: int | None = None
    ) -> None:
        self.environment, self.governance, self.pool, self.drift_every_s = environment, governance, pool, drift_every_s
        self.ids: dict[str, str] = {}
        self.worker = None

    def __enter__(self) -> Installation:
        from changeflow.adapters.prefect_recovery import install_recovery
        from changeflow.local.executor import executor_configuration
        from changeflow.local.serve import deploy_change_flows

        self.ids = deploy_change_flows(safety_net_every_s=None, pool=self.pool, drift_every_s=self.drift_every_s)
        self.automations = install_recovery(self.ids["safety-net"])
        self.scratch = Path(tempfile.mkdtemp(prefix="changeflow-drill-worker-"))
        self.worker_env = executor_configuration(self.scratch / "executor", self.environment, self.governance)
        self._start_worker()
        return self

    def _start_worker(self) -> None:
        from prefect.settings import PREFECT_API_URL

        from changeflow.local.serve import start_worker

        self.worker = start_worker(
            self.pool, self.scratch, {**os.environ, **self.worker_env, "PREFECT_API_URL": PREFECT_API_URL.value()}
        )

    def lose_worker(self, also: int) -> None:
        """The host loses the worker and the run ``also`` (a pid) at once: SIGKILL both; nothing marks the
        run *Crashed* but its silence. A supervisor starts a new worker."""
        os.kill(also, signal.SIGKILL)
        self.worker.kill()
        self.worker.wait()
        self._start_worker()

    @contextmanager
    def automations_paused(self) -> Iterator[None]:
        """The recovery automations paused for the block: the crash hook alone can start the safety net."""
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            paused = [a.id for name in self.automations for a in client.read_automations_by_name(name)]
            for automation in paused:
                client.pause_automation(automation)
        try:
            yield
        finally:
            with get_client(sync_client=True) as client:
                for automation in paused:
                    client.resume_automation(automation)

    def __exit__(self, *exc) -> None:
        if self.worker is not None:
            self.worker.terminate()
            try:
                self.worker.wait(30)
            except Exception:
                self.worker.kill()
            shutil.rmtree(self.scratch, ignore_errors=True)

    def start_change(self, request: ChangeRequest) -> str:
        """A run of the change's governed deployment (``normal-change/normal`` …) for ``request``; its id."""
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            run = client.create_flow_run_from_deployment(
                self.ids[request.type.value], parameters={"request": request.model_dump(mode="json")}
            )
        return str(run.id)


@contextmanager
def prefect_on_postgres(postgres, home: Path) -> Iterator[str]:
    """A Prefect server of its own on ``postgres`` (a ``LocalPostgres``), the Prefect API for the block; yields
    its URL. Prefect's SQLite server stalls writes for its 60 s busy timeout under the drills' load."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from changeflow.local.prefect_server import LocalPrefectServer

    home.mkdir(parents=True, exist_ok=True)
    database = postgres.url(postgres.create_database("prefect_drills"), driver="asyncpg")
    with (
        LocalPrefectServer(home=home, database_url=database) as prefect,
        temporary_settings(updates={PREFECT_API_URL: prefect.api_url}),
    ):
        yield prefect.api_url


class Kill(BaseModel):
    """Where the executor was when it died: the last step its record shows started."""

    pid: int
    step: str
    production_touched: bool
    killed_at: float  # time.monotonic()


def last_step(record: ChangeRecord) -> str:
    steps = sorted(
        record.execution_steps + record.verification_steps + record.rollback_steps, key=lambda s: s.started_at
    )
    return steps[-1].name if steps else ""


def await_record(
    store: RecordStore, change_id: str, ready: Callable[[ChangeRecord], bool], timeout_s: float, poll_s: float = 0.05
) -> ChangeRecord:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            record = store.load(change_id)
        except (RecordNotFound, ValueError):
            record = None
        if record is not None and ready(record):
            return record
        time.sleep(poll_s)
    raise TimeoutError(
        f"{change_id}: not there within {timeout_s:.0f}s (last state: {record.state if record else 'no record'})"
    )


def kill_at_step(
    store: RecordStore,
    change_id: str,
    step: str,
    timeout_s: float = 120.0,
    pid_of: Callable[[ChangeRecord], int] | None = None,
    after_touching: bool = False,
) -> Kill:
    """SIGSTOP the executor as soon as its record shows ``step`` started (``after_touching``: and production
    touched, which a step says just after it starts), read where it is, SIGKILL it."""
    record = await_record(
        store, change_id, lambda r: started(r, step) and (r.production_touched or not after_touching), timeout_s
    )
    pid = pid_of(record) if pid_of else int(record.executor["pid"])
    os.kill(pid, signal.SIGSTOP)
    frozen = store.load(change_id)
    os.kill(pid, signal.SIGKILL)
    return Kill(
        pid=pid, step=last_step(frozen), production_touched=frozen.production_touched, killed_at=time.monotonic()
    )


def started(record: ChangeRecord, step: str) -> bool:
    return any(s.name == step for s in record.execution_steps + record.verification_steps + record.rollback_steps)


def start_approved(
    installation: Installation, request: ChangeRequest, step: str, approver: str, timeout_s: float = 150.0
) -> ChangeRecord:
    """Run ``request`` through its governed deployment, ``approver`` approving (signed), until its record
    shows ``step`` started."""
    from changeflow.adapters.credentials import signed_proof
    from changeflow.adapters.prefect_approvals import DecisionsInBackground
    from changeflow.bootstrap import bootstrap
    from changeflow.settings.defaults import approver_keys_dir

    store = bootstrap(installation.environment).records
    proof = lambda who, approve: signed_proof(store, approver_keys_dir(), request.id, who, approve)  # noqa: E731
    with DecisionsInBackground(request.id, [(approver, True, "fault drill")], wait_s=90, proof=proof) as approvers:
        installation.start_change(request)
        record = await_record(store, request.id, lambda r: started(r, step), timeout_s)
    if approvers.error is not None:
        raise approvers.error
    return record


def run_and_kill(
    installation: Installation, request: ChangeRequest, step: str, approver: str, after_touching: bool = False
) -> Kill:
    """``start_approved`` until ``step``, then kill the executor in it."""
    from changeflow.bootstrap import bootstrap

    start_approved(installation, request, step, approver)
    return kill_at_step(bootstrap(installation.environment).records, request.id, step, after_touching=after_touching)


def flow_run_pid(flow_run_id: str) -> int | None:
    """The process on this host running ``flow_run_id`` (a worker sets ``PREFECT__FLOW_RUN_ID`` in its env)."""
    needle = f"PREFECT__FLOW_RUN_ID={flow_run_id}".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    return int(entry.name)
            except OSError:
                continue
    return None


def safety_net_pid(deployment_id: str, timeout_s: float = 60.0) -> int:
    """The process of the safety-net run now running (started by an automation)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING]))
                ),
            )
        for run in runs:
            if pid := flow_run_pid(str(run.id)):
                return pid
        time.sleep(0.1)
    raise TimeoutError(f"no safety-net run started within {timeout_s:.0f}s")


class Recovery(BaseModel):
    """What the drill found once production was back: seconds from the kill, and the record's end."""

    seconds: float
    state: str
    outcome: str
    serving: list[int]


def await_recovery(
    store: RecordStore,
    production: ModelServer,
    locks: ModelLocks,
    change_id: str,
    model: str,
    known_good: int,
    kill: Kill,
    timeout_s: float = 150.0,
) -> Recovery:
    """Wait (doing nothing) until the record is terminal and production serves only ``known_good``; then
    the model's lock must be free at once."""
    record = await_record(store, change_id, lambda r: r.is_terminal, timeout_s, poll_s=0.2)
    deadline = kill.killed_at + timeout_s
    while (serving := production.ready_versions(model)) != [known_good]:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{change_id}: production serves {serving}, not [{known_good}], {timeout_s:.0f}s after the kill"
            )
        time.sleep(0.2)
    seconds = time.monotonic() - kill.killed_at
    try:
        # Free for the next change: within 20 s (a dead holder's lease would hold it for up to a minute). Not
        # 1 s: Prefect answers an acquisition that finds the slot busy with a Retry-After of about the
        # limit's average occupancy, so a request that lands a moment early waits that long.
        with locks.hold(model, timeout_s=20):
            pass
    except Exception as exc:
        raise TimeoutError(
            f"{change_id}: the lock on {model} is not free after recovery ({exc}); executor {record.executor}"
        ) from exc
    return Recovery(seconds=seconds, state=record.state.value, outcome=record.outcome, serving=serving)

"""The executor's worker: Prefect's process worker, guarded (#23). Prefect OSS has one API credential and no
authorization, so whoever creates runs can also edit a deployment (its entrypoint, its ``pull_steps`` such
as ``run_shell_script``, its ``job_variables`` such as ``command`` or ``env``) or the work pool's base job
template; the stock ``prefect worker start --type process`` would then run her code as the executor, with
the executor's keys, before any changeflow code could object.

This worker executes only changeflow's own deployments, as ``deploy_change_flows`` made them. Before a
process starts it reads the run's deployment, the run and the work pool afresh and refuses the run (a
final *Failed* state whose message starts with ``refused by the executor:``, logged; no process) unless:

- the deployment's entrypoint is one of the flows it was told (``entrypoints``);
- its pull steps are exactly one ``set_working_directory`` to the flows folder it was told
  (``flows_source``), with no storage block and no other ``path``;
- neither the deployment nor the run carries job variables, and the pool's base job template is Prefect's
  default for the process type (or empty, which Prefect reads as the default).

An accepted run is not re-read: the worker starts ``python -m prefect.engine`` itself, in its own flows
folder, with the checked entrypoint (``PREFECT__FLOW_ENTRYPOINT``: the engine imports it and runs no pull
step) and the job configuration built from Prefect's default template, whatever the pool says by then.
The worker's own *on_crashed* / *on_cancellation* hooks load the same checked entrypoint.

Started as ``python -m changeflow.adapters.prefect_worker --pool P --flows-source DIR --entrypoint E …``
(what ``prefect worker start --type process`` does, with the same ``PREFECT_WORKER_*`` settings).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
from prefect.exceptions import Abort, ObjectNotFound
from prefect.flows import load_flow_from_entrypoint
from prefect.runner._flow_run_executor import (
    FlowRunExecutionResult,
    FlowRunExecutorContext,
)
from prefect.runner._starter_engine import EngineCommandStarter
from prefect.states import Failed
from prefect.utilities.asyncutils import run_sync_in_worker_thread
from prefect.utilities.engine import propose_state
from prefect.workers.process import (
    ProcessJobConfiguration,
    ProcessWorker,
    ProcessWorkerResult,
)

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun
    from prefect.client.schemas.responses import DeploymentResponse

REFUSED = "refused by the executor: "
WORKING_DIRECTORY_STEP = "prefect.deployments.steps.set_working_directory"


class RunRefused(Exception):
    """A flow run this worker will not execute; the message says why."""


def default_template() -> dict[str, Any]:
    """Prefect's base job template for the process type, as the API stores it (JSON)."""
    return json.loads(json.dumps(ProcessWorker.get_default_base_job_template()))


def _differing(seen: dict, expected: dict) -> list[str]:
    return sorted(k for k in set(seen) | set(expected) if seen.get(k) != expected.get(k))


def template_difference(template: dict[str, Any] | None) -> list[str]:
    """The parts of a pool's base job template that are not Prefect's process default ([] when it is)."""
    template = json.loads(json.dumps(template or {}))
    if not template:  # an empty template is the default (a worker fills it in)
        return []
    expected = default_template()
    differ = [
        f"job_configuration.{k}"
        for k in _differing(template.get("job_configuration") or {}, expected["job_configuration"])
    ]
    seen_vars, default_vars = template.get("variables") or {}, expected["variables"]
    differ += [f"variables.{k}" for k in _differing(seen_vars.get("properties") or {}, default_vars["properties"])]
    differ += [
        f"variables {k}"
        for k in _differing(
            {k: v for k, v in seen_vars.items() if k != "properties"},
            {k: v for k, v in default_vars.items() if k != "properties"},
        )
    ]
    differ += [f"key {k}" for k in _differing({k: True for k in template}, {k: True for k in expected})]
    return differ


def _pull_steps_as_deployed(deployment: DeploymentResponse, flows_source: Path) -> bool:
    steps = deployment.pull_steps or []
    if deployment.storage_document_id is not None or deployment.path not in (None, str(flows_source)):
        return False
    if len(steps) != 1 or not isinstance(steps[0], dict) or list(steps[0]) != [WORKING_DIRECTORY_STEP]:
        return False
    arguments = steps[0][WORKING_DIRECTORY_STEP]
    return (
        isinstance(arguments, dict)
        and list(arguments) == ["directory"]
        and isinstance(arguments["directory"], str)
        and Path(arguments["directory"]).resolve() == flows_source
    )


def refusal(
    deployment: DeploymentResponse | None,
    run_job_variables: dict | None,
    pool_template: dict | None,
    flows_source: Path,
    entrypoints: frozenset[str],
) -> str | None:
    """Why this run may not execute here (the state message), or None. Pure: the caller reads what it checks."""
    if deployment is None:
        return (
            REFUSED
            + "entrypoint: the run has no deployment; only changeflow's own deployments run on this worker; nothing was started"
        )
    problems = []
    if deployment.entrypoint not in entrypoints:
        problems.append(f"entrypoint {deployment.entrypoint!r} is not one of changeflow's flows")
    if not _pull_steps_as_deployed(deployment, flows_source):
        shown = json.dumps(deployment.pull_steps, default=str)
        problems.append(
            f"pull steps {shown[:300]} (storage {deployment.storage_document_id}, path {deployment.path!r}) are not "
            f"the one set_working_directory to {flows_source}"
        )
    if deployment.job_variables:
        problems.append(f"job variable(s) {', '.join(sorted(map(str, deployment.job_variables)))} on the deployment")
    if run_job_variables:
        problems.append(f"job variable(s) {', '.join(sorted(map(str, run_job_variables)))} on the flow run")
    if differ := template_difference(pool_template):
        problems.append(
            f"base job template of the work pool differs from Prefect's process default in {', '.join(differ)}"
        )
    if not problems:
        return None
    return REFUSED + "; ".join(problems) + "; nothing was started"


class GuardedProcessWorker(ProcessWorker):
    """A process worker that executes only changeflow's own deployments, as deployed (module docstring)."""

    type = "process"  # the pool's type: it polls process pools and sends heartbeats as a process worker
    _description = "Executes only changeflow's own deployments, as deployed: Prefect's process worker, guarded."

    @classmethod
    def __dispatch_key__(cls) -> str:
        return "changeflow-guarded-process"  # leaves Prefect's own "process" worker in Prefect's registry

    def __init__(
        self, work_pool_name: str, *, flows_source: Path | str, entrypoints: Iterable[str], **kwargs: Any
    ) -> None:
        super().__init__(work_pool_name, **kwargs)
        self.flows_source = Path(flows_source).resolve()
        self.entrypoints = frozenset(entrypoints)
        if not self.entrypoints:
            raise ValueError("a guarded worker needs the entrypoints it may run")
        missing = [e for e in sorted(self.entrypoints) if not (self.flows_source / e.rsplit(":", 1)[0]).is_file()]
        if missing:
            raise ValueError(f"entrypoints not found under {self.flows_source}: {', '.join(missing)}")

    async def check(self, flow_run: FlowRun) -> tuple[DeploymentResponse | None, str | None]:
        """The run's deployment and why the run is refused (None: it may run), from the API as it is now."""
        deployment = None
        if flow_run.deployment_id is not None:
            try:
                deployment = await self.client.read_deployment(flow_run.deployment_id)
            except ObjectNotFound:
                pass
        run = await self.client.read_flow_run(flow_run.id)
        pool = await self.client.read_work_pool(self._work_pool_name)
        job_variables = {**(flow_run.job_variables or {}), **(run.job_variables or {})}
        return deployment, refusal(
            deployment, job_variables, pool.base_job_template, self.flows_source, self.entrypoints
        )

    async def refuse(self, flow_run: FlowRun, message: str) -> None:
        self.get_flow_run_logger(flow_run).error(message)
        self._logger.error(f"flow run '{flow_run.id}' {message}")
        try:
            await propose_state(self.client, Failed(message=message), flow_run_id=flow_run.id)
        except Abort:
            pass  # already final: it never ran here either

    async def _default_configuration(
        self, flow_run: FlowRun, deployment: DeploymentResponse
    ) -> ProcessJobConfiguration:
        configuration = await ProcessJobConfiguration.from_template_and_values(
            default_template(), {}, client=self.client
        )
        configuration.prepare_for_flow_run(
            flow_run=flow_run,
            deployment=deployment,
            flow=await self.client.read_flow(flow_run.flow_id),
            work_pool=self.work_pool,
            worker_name=self.name,
            worker_id=self.backend_id,
        )
        return configuration

    def _checked_flow(self, entrypoint: str):
        path, name = entrypoint.rsplit(":", 1)

        async def resolve(flow_run: FlowRun):
            return await run_sync_in_worker_thread(load_flow_from_entrypoint, f"{self.flows_source / path}:{name}")

        return resolve

    async def run(
        self,
        flow_run: FlowRun,
        configuration: ProcessJobConfiguration,
        task_status: anyio.abc.TaskStatus[int] | None = None,
    ) -> ProcessWorkerResult:
        """Check, then start the checked entrypoint with Prefect's default configuration; the
        ``configuration`` Prefect resolved from the pool and the job variables is not used."""
        task_status = task_status or anyio.TASK_STATUS_IGNORED
        deployment, refused = await self.check(flow_run)
        if refused is not None:
            await self.refuse(flow_run, refused)
            task_status.started(RunRefused(refused))  # BaseWorker: not started, its slot is released
            return ProcessWorkerResult(status_code=0, identifier="refused")
        configuration = await self._default_configuration(flow_run, deployment)
        execution: FlowRunExecutionResult | None = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            async with FlowRunExecutorContext() as ctx:
                starter = EngineCommandStarter(
                    entrypoint=deployment.entrypoint,
                    cwd=self.flows_source,
                    env=configuration.env,
                    stream_output=configuration.stream_output,
                    control_channel=ctx.control_channel,
                    isolate_process_group=True,
                    env_overrides_settings=True,
                )  # as Prefect's own launch
                executor = ctx.create_executor(
                    flow_run, starter, resolve_flow=self._checked_flow(deployment.entrypoint), propose_submitting=False
                )

                async def execute(*, task_status: anyio.abc.TaskStatus = anyio.TASK_STATUS_IGNORED) -> None:
                    nonlocal execution
                    execution = await executor.submit(task_status=task_status)

                async with anyio.create_task_group() as group:
                    handle = await group.start(execute)
                    if handle.pid is None:
                        raise RuntimeError("Flow run process has no PID")
                    task_status.started(handle.pid)
        if execution is None or execution.status_code is None:
            raise RuntimeError("Failed to start flow run process.")
        return ProcessWorkerResult(status_code=execution.status_code, identifier=str(execution.handle.pid))


def worker_command(
    pool: str,
    flows_source: Path | str,
    entrypoints: Iterable[str],
    name: str | None = None,
    limit: int | None = None,
    python: str | None = None,
) -> list[str]:
    """The command line that starts a guarded worker (``sys.executable`` unless ``python`` is given)."""
    import sys

    argv = [
        python or sys.executable,
        "-m",
        "changeflow.adapters.prefect_worker",
        "--pool",
        pool,
        "--flows-source",
        str(flows_source),
    ]
    for entrypoint in entrypoints:
        argv += ["--entrypoint", entrypoint]
    if name:
        argv += ["--name", name]
    if limit:
        argv += ["--limit", str(limit)]
    return argv


def main(argv: list[str] | None = None) -> None:
    """``prefect worker start --type process``, guarded: same settings (``PREFECT_WORKER_QUERY_SECONDS``,
    ``PREFECT_WORKER_PREFETCH_SECONDS``, ``PREFECT_WORKER_HEARTBEAT_SECONDS``), same signal handling."""
    import argparse
    import asyncio
    import os

    from prefect.settings import (
        PREFECT_WORKER_HEARTBEAT_SECONDS,
        PREFECT_WORKER_PREFETCH_SECONDS,
    )
    from prefect.utilities.processutils import setup_signal_handlers_worker

    parser = argparse.ArgumentParser(
        prog="python -m changeflow.adapters.prefect_worker", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--pool", required=True)
    parser.add_argument("--name")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--flows-source", required=True, type=Path, help="the folder the entrypoints are relative to")
    parser.add_argument("--entrypoint", action="append", required=True, help="an entrypoint it may run (repeat)")
    args = parser.parse_args(argv)

    def say(*parts: object, **_: object) -> None:
        print(*parts, flush=True)

    setup_signal_handlers_worker(os.getpid(), "the guarded process worker", say)
    worker = GuardedProcessWorker(
        args.pool,
        flows_source=args.flows_source,
        entrypoints=args.entrypoint,
        name=args.name,
        limit=args.limit,
        prefetch_seconds=PREFECT_WORKER_PREFETCH_SECONDS.value(),
        heartbeat_interval_seconds=int(PREFECT_WORKER_HEARTBEAT_SECONDS.value()),
    )
    say(f"guarded worker: runs only {len(worker.entrypoints)} entrypoints under {worker.flows_source} as deployed")
    try:
        asyncio.run(worker.start(printer=say))
    except (KeyboardInterrupt, asyncio.CancelledError):
        say(f"Worker {worker.name!r} stopped!")


if __name__ == "__main__":
    main()

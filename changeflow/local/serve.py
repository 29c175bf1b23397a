"""``changeflow serve``: one command for a working installation on this machine — a Prefect server (the
one ``PREFECT_API_URL`` names, else a local one), production and staging Tritons, the change flows
deployed from the installed package (a checkout or a wheel) to a local *process* work pool with a
worker, the safety net every minute and whenever a change's run crashes, fails or goes silent
(``adapters.prefect_recovery``), the drift check every minute (``--drift-every``), and one
maintenance-window run at the start of each upcoming window.

Engineers trigger ``normal-change/normal`` (etc.) from the UI with a change request in the form;
approvers resume the paused runs there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from changeflow.settings import paths
from changeflow.settings.environment import Environment
from changeflow.settings.governance import Governance

POOL = "changeflow-local"
FLOWS = [  # (entrypoint, deployment name): no parameters of the executor's; the worker's configuration holds them
    ("flows/lifecycle.py:standard_change", "standard"),
    ("flows/lifecycle.py:normal_change", "normal"),
    ("flows/lifecycle.py:emergency_change", "emergency"),
    ("flows/compensation.py:rollback_change", "rollback"),
    ("flows/safety.py:safety_net", "safety-net"),
    ("flows/maintenance_window.py:maintenance_window", "maintenance-window"),
    ("flows/drift.py:drift_check", "drift-check"),
    ("flows/review.py:post_implementation_review", "review"),  # an emergency's signed post-implementation review
]
CHANGE_TYPES = {"standard", "normal", "emergency"}  # deployments an engineer starts a change from
EVERY = {"safety-net", "drift-check"}  # deployments on an interval, one run at a time
HOUSEKEEPING = "housekeeping"  # their runs' tag: the runs list can leave them out (docs/operators.md)


def flows_source() -> Path:
    """The folder the ``flows/…`` entrypoints are relative to: the checkout's root, or the installed
    ``changeflow`` package (where ``flows/`` ships as ``changeflow/flows``)."""
    import changeflow.flows

    return Path(changeflow.flows.__file__).resolve().parent.parent


def deploy_change_flows(
    safety_net_every_s: int | None = 60, pool: str = POOL, drift_every_s: int | None = 60, suffix: str = ""
) -> dict[str, str]:
    """Deploy the change flows to the process work pool; returns name → deployment id. They carry no
    environment, governance or clock: each worker reads its own (``local.executor``). The safety net runs
    every ``safety_net_every_s`` (None: only when an automation or a person runs it), the drift check
    every ``drift_every_s`` (None: only when run by hand). ``suffix`` names a separate set (the demo's
    ``normal-change/normal-demo``), so a demo on a team's server never takes over the team's deployments."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        except ObjectAlreadyExists:
            pass
    ids = {}
    for entrypoint, name in FLOWS:
        source = flow.from_source(source=str(flows_source()), entrypoint=entrypoint)
        # the safety net (also run when an automation says an executor died) and the drift check: on a schedule, one at a time
        schedule = {"concurrency_limit": 1} if name in EVERY else {}
        if every := {"safety-net": safety_net_every_s, "drift-check": drift_every_s}.get(name):
            schedule["interval"] = timedelta(seconds=every)
        ids[name] = str(
            source.deploy(
                name=name + suffix,
                work_pool_name=pool,
                build=False,
                push=False,
                print_next_steps=False,
                ignore_warnings=True,
                tags=["changeflow", HOUSEKEEPING] if name in EVERY else ["changeflow"],
                **schedule,
            )
        )
        if name in CHANGE_TYPES:
            show_request_form(ids[name], name)
    return ids


def show_request_form(deployment_id: str, change_type: str) -> None:
    """The deployment's Run form: the change request only, its type preset (``local.run_form``)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentUpdate

    from changeflow.kinds import FORM_ORDER
    from changeflow.local.run_form import request_form

    with get_client(sync_client=True) as client:
        deployed = client.read_deployment(deployment_id)
        schema, parameters = request_form(deployed.parameter_openapi_schema, change_type, FORM_ORDER[0])
        client.update_deployment(
            deployment_id, DeploymentUpdate(parameter_openapi_schema=schema, parameters=parameters)
        )


def schedule_maintenance_windows(deployment_id: str, governance: Governance) -> list[str]:
    """One maintenance-window flow run at the start of each upcoming window (idempotent per window)."""
    from prefect.client.orchestration import get_client
    from prefect.states import Scheduled

    from changeflow.flows.maintenance_window import maintenance_runs
    from changeflow.services.recorder import utc_now

    scheduled = []
    with get_client(sync_client=True) as client:
        existing = {
            r.name
            for r in client.read_flow_runs(limit=200)
            if r.deployment_id and str(r.deployment_id) == deployment_id
        }
        for window, start in maintenance_runs(governance.calendar, utc_now()):
            name = f"maintenance-{window}"
            if name not in existing:
                client.create_flow_run_from_deployment(
                    deployment_id, parameters={"window": window}, name=name, state=Scheduled(scheduled_time=start)
                )
            scheduled.append(f"{window} at {start.isoformat()}")
    return scheduled


def start_worker(pool: str, scratch: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """A process worker for ``pool`` whose flow runs send heartbeats (what the recovery automations watch)
    and which looks for new runs every 2 s (a triggered safety net starts at once). Prefect's per-run
    folders go under ``scratch`` (its ``TMPDIR``), which the caller removes. It is the guarded worker
    (``adapters.prefect_worker``): it runs only the ``FLOWS`` entrypoints, as ``deploy_change_flows`` deployed
    them from ``flows_source()``, and refuses a run whose deployment, job variables or pool template differ."""
    from changeflow.adapters.prefect_recovery import HEARTBEAT_ENV
    from changeflow.adapters.prefect_worker import worker_command
    from changeflow.local.processes import die_with_parent

    # prefetch 5 s: a scheduled run's process starts 5 s ahead (its start-up hidden), yet after the run before
    # it ended, so a short interval (drift check, 10 s) never collides with the deployment's concurrency limit
    env = {
        **(env if env is not None else os.environ),
        **HEARTBEAT_ENV,
        "PREFECT_WORKER_QUERY_SECONDS": "2",
        "PREFECT_WORKER_PREFETCH_SECONDS": "5",
        "TMPDIR": str(scratch),
    }
    return subprocess.Popen(
        worker_command(pool, flows_source(), [entrypoint for entrypoint, _ in FLOWS]),
        env=env,
        preexec_fn=die_with_parent,
    )


def worker_configuration(environment_file: Path, environment: Environment, say) -> tuple[Governance, dict[str, str]]:
    """The governance the worker judges by and the variables it starts with. A team that pins its
    maintainers' keys (``CHANGEFLOW_GOVERNANCE_KEYS``) runs its own sealed bundle as it is; a trial gets
    the governance folder sealed by a maintainer key made for this installation under ``.changeflow/executor``."""
    from changeflow.local.executor import executor_configuration
    from changeflow.settings.defaults import governance_dir, governance_pins
    from changeflow.settings.loader import load_governance

    governance = load_governance(governance_dir())
    if governance_pins():
        say(f"governance: {governance.bundle.describe()}")
        return governance, {"CHANGEFLOW_ENVIRONMENT": str(environment_file)}
    home = environment_file.parent / "executor"
    env = executor_configuration(home, environment, governance, golden_from=governance_dir())
    say(
        f"trial governance: {governance_dir()} sealed into {env['CHANGEFLOW_GOVERNANCE']} by a maintainer key made for this installation "
        f"({home / 'maintainer.pem'}); a team pins its own with CHANGEFLOW_GOVERNANCE_KEYS"
    )
    return governance, env


def main(argv: list[str] | None = None) -> None:
    """The child process of ``changeflow serve`` (``PREFECT_API_URL`` set): ``--repository R --model M[:V]``."""
    import argparse

    import yaml

    from changeflow.adapters.prefect_recovery import install_recovery
    from changeflow.local.triton_server import SAMPLE_MODELS, TritonServer, parse_models, serve_versions
    from changeflow.settings.defaults import environment_path
    from changeflow.settings.environment import BakeSettings, RecordStoreSettings

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    import signal

    signal.signal(
        signal.SIGTERM, lambda *_: sys.exit(0)
    )  # stopped by its parent: the servers stop cleanly, leaving nothing in /tmp

    parser = argparse.ArgumentParser(prog="changeflow serve")
    parser.add_argument("--repository", type=Path, default=paths.MODEL_REPOSITORY)
    parser.add_argument("--model", action="append", default=[])
    parser.add_argument("--drift-every", type=int, default=60)
    args = parser.parse_args(argv)
    shipped = args.repository.resolve() == paths.MODEL_REPOSITORY.resolve()
    models = parse_models(args.repository, args.model or (SAMPLE_MODELS if shipped else []))
    environment_file = environment_path()
    with (
        TritonServer(
            args.repository, name="production", copy_repository=True, load_models=[m for m, v in models if v is None]
        ) as prod,
        TritonServer(args.repository, name="staging", copy_repository=True) as staging,
    ):
        say(f"production serves {', '.join(serve_versions(prod, models)) or 'no model yet'}")
        environment = Environment(
            production=prod.endpoint("production"),
            staging=staging.endpoint("staging"),
            records=RecordStoreSettings(),
            bake=BakeSettings(),
        )
        environment_file.parent.mkdir(parents=True, exist_ok=True)
        environment_file.write_text(yaml.safe_dump(environment.model_dump(mode="json"), sort_keys=False))
        say(f"production Triton {prod.http_url}, staging {staging.http_url}; environment written to {environment_file}")
        governance, worker_env = worker_configuration(environment_file, environment, say)
        ids = deploy_change_flows(drift_every_s=args.drift_every)
        say(f"deployed to work pool {POOL}: {', '.join(ids)}; drift check every {args.drift_every}s")
        say(f"recovery automations installed: {', '.join(install_recovery(ids['safety-net']))}")
        for line in schedule_maintenance_windows(ids["maintenance-window"], governance):
            say(f"maintenance-window run scheduled: {line}")
        scratch = Path(tempfile.mkdtemp(prefix="changeflow-worker-"))
        worker = start_worker(POOL, scratch, {**os.environ, **worker_env})
        say(
            f"worker started (pid {worker.pid}); ready. Ctrl-C stops the worker, the Tritons and the server it started."
        )
        try:
            while worker.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            worker.terminate()
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

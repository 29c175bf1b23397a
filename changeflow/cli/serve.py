"""``changeflow serve``: Prefect server + Tritons + the change flows as deployments, in one command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from changeflow.cli._app import app, out, reports_errors
from changeflow.settings import paths


@app.command()
@reports_errors
def serve(
    repository: Annotated[
        Path, typer.Option(help="the model repository the local Tritons serve")
    ] = paths.MODEL_REPOSITORY,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="MODEL or MODEL:VERSION production serves at start (repeatable)"),
    ] = None,
    drift_every: Annotated[
        int,
        typer.Option("--drift-every", min=10, max=86_400, help="seconds between drift checks (unauthorized changes)"),
    ] = 60,
) -> None:
    """Prefect server + Tritons + the change flows as deployments, in one command (Ctrl-C stops all)."""
    import os
    import subprocess
    import sys

    from changeflow.local.prefect_server import LocalPrefectServer, new_auth_string, reachable_api_url
    from changeflow.local.triton_server import parse_models

    parse_models(repository, model or [])  # a bad --model is refused before anything starts

    url, server, database = reachable_api_url(), None, None
    if url is None:  # one changeflow starts is behind a credential (Prefect's basic auth)
        database, database_url = private_postgres()
        server = LocalPrefectServer(auth_string=new_auth_string(), database_url=database_url).start()
        url = server.api_url
    # one line each, never wrapped: people copy the export commands
    out.print(f"[bold green]Prefect UI[/] {url.removesuffix('/api')}  (export PREFECT_API_URL={url})", soft_wrap=True)
    if server is not None:
        out.print(
            f"the API and the UI ask for: {server.auth_string}  (export PREFECT_API_AUTH_STRING='{server.auth_string}')",
            markup=False,
            soft_wrap=True,
        )
    try:
        arguments = ["--repository", str(repository.resolve()), f"--drift-every={drift_every}"] + [
            f"--model={m}" for m in model or []
        ]
        subprocess.run(
            [sys.executable, "-m", "changeflow.local.serve", *arguments],
            env={
                **os.environ,
                "PREFECT_API_URL": url,
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                **(server.client_env if server else {}),
            },
        )
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.stop()
        if database is not None:
            database.__exit__(None, None, None)


def private_postgres():
    """(a private PostgreSQL for Prefect's own database, its URL) where one can start here, else (None, None):
    Prefect's SQLite server lost clicks (`database is locked`) under the housekeeping runs; Prefect's client
    retries a locked server's 503s, and the line printed says which one runs."""
    from changeflow.exceptions import LocalServerError
    from changeflow.local.postgres import LocalPostgres, missing_reason

    if (reason := missing_reason()) is not None:
        out.print(f"Prefect's database: SQLite ({reason})", markup=False, highlight=False)
        return None, None
    database = LocalPostgres()
    try:
        database.__enter__()
        url = database.url(database.create_database("prefect"), driver="asyncpg")
    except LocalServerError as exc:
        out.print(f"Prefect's database: SQLite (a private PostgreSQL did not start: {exc})", markup=False)
        return None, None
    out.print(f"Prefect's database: a private PostgreSQL on port {database.port}", markup=False, highlight=False)
    return database, url


@app.command()
@reports_errors
def recovery(
    deployment: Annotated[
        str, typer.Option(help="the safety net's deployment, FLOW/DEPLOYMENT")
    ] = "safety-net/safety-net",
    silence_s: Annotated[
        float, typer.Option(min=60, help="a change run with no heartbeat for this long is marked Crashed")
    ] = 70.0,
) -> None:
    """Install (or replace) the recovery automations on the Prefect server ``PREFECT_API_URL`` names: a
    change whose executor crashes, fails or goes silent runs the safety net. ``serve`` does this itself."""
    from changeflow.adapters.prefect_recovery import HEARTBEAT_ENV, install_recovery
    from changeflow.cli._prefect import require_prefect
    from changeflow.exceptions import InvalidSettings, PrefectUnavailable

    if deployment.count("/") != 1 or not all(deployment.split("/")):
        raise InvalidSettings(
            "--deployment", "deployment", f"{deployment!r} is not FLOW/DEPLOYMENT", "e.g. safety-net/safety-net"
        )
    require_prefect()
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    try:
        with get_client(sync_client=True) as client:
            found = client.read_deployment_by_name(deployment)
        names = install_recovery(str(found.id), silence_s)
    except ObjectNotFound:
        raise InvalidSettings(
            "--deployment",
            "deployment",
            f"no deployment {deployment!r} on this Prefect server",
            "deploy flows/safety.py:safety_net (deployments/prefect.yaml), or name yours",
        ) from None
    except Exception as exc:  # the server refused or is gone: one line, not a traceback
        raise PrefectUnavailable(f"the automations could not be installed: {exc.__class__.__name__}: {exc}") from None
    for name in names:
        out.print(f"installed automation: {name}", markup=False)
    heartbeat = " ".join(f"{k}={v}" for k, v in HEARTBEAT_ENV.items())
    out.print(f"set {heartbeat} in your workers' environment so their change runs send heartbeats", markup=False)


@app.command()
@reports_errors
def worker(
    pool: Annotated[
        str, typer.Option(help="the process work pool the change flows are deployed to")
    ] = "changeflow-local",
    name: Annotated[str | None, typer.Option(help="this worker's name in the Prefect UI")] = None,
    limit: Annotated[int | None, typer.Option(min=1, max=1_000, help="at most this many flow runs at once")] = None,
    deploy: Annotated[
        bool,
        typer.Option("--deploy/--no-deploy", help="also (re)deploy the change flows to POOL from this installation"),
    ] = False,
) -> None:
    """Run an executor: the guarded process worker, which runs only changeflow's own deployments as deployed
    (an edited entrypoint, pull step, job variable or pool template is refused before anything starts). Its
    configuration is this process's: CHANGEFLOW_ENVIRONMENT, CHANGEFLOW_GOVERNANCE (+ _KEYS), CHANGEFLOW_EXECUTOR_KEY,
    CHANGEFLOW_APPROVER_SECRETS; never `prefect worker start` for the change flows."""
    import os

    from changeflow.adapters.prefect_recovery import HEARTBEAT_ENV
    from changeflow.adapters.prefect_worker import worker_command
    from changeflow.cli._prefect import require_prefect
    from changeflow.local.serve import FLOWS, deploy_change_flows, flows_source

    require_prefect()
    if deploy:
        deploy_change_flows(pool=pool)
        out.print(f"deployed the change flows from {flows_source()} to work pool {pool}", markup=False)
    argv = worker_command(pool, flows_source(), [entrypoint for entrypoint, _ in FLOWS], name=name, limit=limit)
    os.environ.update({key: os.environ.get(key, value) for key, value in HEARTBEAT_ENV.items()})
    os.execv(argv[0], argv)  # the worker replaces this process: signals reach it as they would `prefect worker start`

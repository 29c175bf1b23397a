"""``changeflow triton up``: serve the sample repository on local Tritons until interrupted."""

from __future__ import annotations

import signal
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer
import yaml

from changeflow.cli._app import app, out, reports_errors
from changeflow.settings import paths
from changeflow.settings.defaults import ENVIRONMENT_FILE

triton_app = typer.Typer(help="Run local Triton Inference Servers.", no_args_is_help=True)
app.add_typer(triton_app, name="triton")


@triton_app.command("up")
@reports_errors
def triton_up(
    repository: Annotated[Path, typer.Option(help="model repository to serve")] = paths.MODEL_REPOSITORY,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="MODEL or MODEL:VERSION to serve (repeatable); default with the shipped repository: classifier:1, feature_scaler",
        ),
    ] = None,
    in_place: Annotated[
        bool, typer.Option("--in-place", help="serve the directory itself, not a private copy")
    ] = False,
    staging: Annotated[bool, typer.Option("--staging", help="also start a staging server beside production")] = False,
    environment_file: Annotated[
        Path, typer.Option("--environment", help="where to write the servers' addresses for `changeflow submit`")
    ] = ENVIRONMENT_FILE,
    http_port: Annotated[
        int, typer.Option(help="production HTTP port, the load balancer's with --replicas (0: a free one)")
    ] = 0,
    replicas: Annotated[
        int,
        typer.Option(
            "--replicas", help="production Tritons behind a local load balancer (haproxy), sharing one repository"
        ),
    ] = 1,
) -> None:
    """Serve a model repository on a local Triton (and a staging one) until interrupted (Ctrl-C)."""
    from changeflow.local.triton_server import SAMPLE_MODELS, TritonServer, parse_models, serve_versions

    shipped = repository.resolve() == paths.MODEL_REPOSITORY.resolve()
    models = parse_models(repository, model if model else SAMPLE_MODELS if shipped else [])
    if replicas != 1:
        return _fleet_up(repository, models, replicas, in_place, staging, environment_file, http_port)
    servers = {
        "production": TritonServer(
            repository,
            name="production",
            copy_repository=not in_place,
            http_port=http_port,
            load_models=[name for name, version in models if version is None],
        )
    }
    if staging:
        servers["staging"] = TritonServer(repository, name="staging", copy_repository=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with ExitStack() as stack:
        for server in servers.values():
            stack.enter_context(server)
        endpoints = {name: server.endpoint(name) for name, server in servers.items()}
        serving = serve_versions(servers["production"], models)
        for name, server in servers.items():
            _say_ready(name, server, serving if name == "production" else [])
        if staging:
            _write_environment(environment_file, endpoints["production"], endpoints["staging"])
        out.print("Press Ctrl-C to stop.")
        try:
            while all(s.process is not None and s.process.poll() is None for s in servers.values()):
                time.sleep(0.5)
        except KeyboardInterrupt:
            out.print("stopping Triton …")


def _fleet_up(
    repository: Path,
    models: list[tuple[str, int | None]],
    replicas: int,
    in_place: bool,
    staging: bool,
    environment_file: Path,
    http_port: int,
) -> None:
    """``--replicas N``: N production Tritons loading from one repository folder (as a fleet shares a volume),
    a load balancer in front as the address clients use, and each replica named in the environment, so a
    change loads and checks every one of them."""
    from changeflow.exceptions import InvalidSettings
    from changeflow.local import load_balancer
    from changeflow.local.fleet import start_fleet
    from changeflow.local.triton_server import TritonServer

    if replicas < 1:
        raise InvalidSettings("triton up", "--replicas", f"{replicas} is not a number of servers", "pass 1 or more")
    if reason := load_balancer.missing_reason():
        raise InvalidSettings(
            "triton up",
            "--replicas",
            f"{replicas} replicas need a load balancer: {reason}",
            "install it, or leave --replicas out to serve one Triton",
        )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with ExitStack() as stack:
        local = start_fleet(stack, repository, models, replicas, in_place=in_place, http_port=http_port)
        fleet, balancer, folder, serving = local.servers, local.balancer, local.folder, local.serving
        servers = {s.name: s for s in fleet}
        if staging:
            servers["staging"] = stack.enter_context(TritonServer(repository, name="staging", copy_repository=True))
        out.print(
            f"[bold green]production load balancer ready[/] in front of {replicas} Tritons serving {folder}"
            + (f": {', '.join(serving)}" if serving else "")
        )
        out.print(f"  HTTP     {balancer.http_url}\n  log      {balancer.log_path}")
        for name, server in servers.items():
            _say_ready(name, server)
        if staging:  # clients use the balancer; a change loads and checks each replica
            _write_environment(environment_file, local.endpoint(), servers["staging"].endpoint("staging"))
        out.print("Press Ctrl-C to stop.")
        others = [balancer] + ([servers["staging"]] if staging else [])
        try:  # a fleet outlives a replica (the balancer takes it out of rotation): serve while one is left
            while all(p.process.poll() is None for p in others) and any(s.process.poll() is None for s in fleet):
                time.sleep(0.5)
        except KeyboardInterrupt:
            out.print("stopping Triton …")


def _say_ready(name: str, server, serving: list[str] = ()) -> None:
    out.print(
        f"[bold green]{name} Triton ready[/] serving {server.repository}"
        + (f": {', '.join(serving)}" if serving else "")
    )
    out.print(
        f"  HTTP     {server.http_url}\n  gRPC     {server.grpc_url}\n  metrics  {server.metrics_url}\n  log      {server.log_path}"
    )


def _write_environment(environment_file: Path, production, staging) -> None:
    """The servers' addresses as an environment file for ``changeflow submit --environment``."""
    from changeflow.settings.environment import Environment

    environment = Environment(production=production, staging=staging)
    environment_file.parent.mkdir(parents=True, exist_ok=True)
    environment_file.write_text(yaml.safe_dump(environment.model_dump(mode="json"), sort_keys=False))
    out.print(
        f"environment written to {environment_file} (for `changeflow submit FILE --environment {environment_file}`)",
        markup=False,
    )

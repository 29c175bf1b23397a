"""The ``changeflow`` command.

Bad input exits 2 with one line naming the field and the fix; other failures exit 1 with one line.
Never a traceback for an error changeflow raised on purpose.
"""

from __future__ import annotations

import functools
import json
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from changeflow import paths
from changeflow.exceptions import ChangeflowError, InvalidChangeRequest

app = typer.Typer(
    help="Change management for mission-critical AI inference on Prefect and NVIDIA Triton.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
triton_app = typer.Typer(help="Run a local Triton Inference Server.", no_args_is_help=True)
app.add_typer(triton_app, name="triton")

out = Console()
err = Console(stderr=True)


def reports_errors(command):
    """Turn changeflow's own errors into one line and an exit code (2: bad input, 1: failure)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except InvalidChangeRequest as exc:
            err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except ChangeflowError as exc:
            err.print(f"[bold red]failed:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


@app.command()
@reports_errors
def submit(
    file: Annotated[Path, typer.Argument(help="change request YAML", show_default=False)],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="validate and print the plan; touch nothing")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the plan as JSON")] = False,
) -> None:
    """Submit a change request (with --dry-run: print its plan and touch nothing)."""
    from changeflow.domain.plan import plan_change
    from changeflow.loader import load_change_request
    from changeflow.render import plan_panel

    request = load_change_request(file)
    plan = plan_change(request)
    if not dry_run:
        raise InvalidChangeRequest(str(file), "(command)", "running changes is not available yet in this build", "use --dry-run")
    if as_json:
        print(plan.model_dump_json(indent=2))
    else:
        out.print(plan_panel(plan))


@triton_app.command("up")
@reports_errors
def triton_up(
    repository: Annotated[Path, typer.Option(help="model repository to serve")] = paths.MODEL_REPOSITORY,
    model: Annotated[Optional[list[str]], typer.Option("--model", "-m", help="model to load at start (repeatable)")] = None,
    in_place: Annotated[bool, typer.Option("--in-place", help="serve the directory itself, not a private copy")] = False,
    http_port: Annotated[int, typer.Option(help="HTTP port (0: a free one)")] = 0,
) -> None:
    """Serve a model repository on a local Triton until interrupted (Ctrl-C)."""
    from changeflow.adapters.triton_server import TritonServer

    server = TritonServer(
        repository=repository,
        name="local",
        load_models=model if model is not None else ["classifier", "feature_scaler"],
        copy_repository=not in_place,
        http_port=http_port,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with server:
        out.print(f"[bold green]Triton ready[/] serving {server.repository}")
        out.print(f"  HTTP     {server.http_url}\n  gRPC     {server.grpc_url}\n  metrics  {server.metrics_url}\n  log      {server.log_path}")
        out.print("Press Ctrl-C to stop.")
        try:
            while server.process is not None and server.process.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            out.print("stopping Triton…")


@app.command()
@reports_errors
def demo(as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False) -> None:
    """Run the sample changes end to end on a local Triton and print a summary."""
    from changeflow.demo import run_demo
    from changeflow.render import demo_table

    report = run_demo(progress=None if as_json else err)
    if as_json:
        print(json.dumps(report.model_dump(mode="json")))
    else:
        out.print(demo_table(report))


def main() -> None:
    app()


if __name__ == "__main__":
    main()

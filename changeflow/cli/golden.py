"""``changeflow golden capture | check``: build a golden set from the version that serves today, and run one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from changeflow.cli._app import app, out, reports_errors

golden_app = typer.Typer(help="Golden sets: known inputs and the outputs a version must give.", no_args_is_help=True)
app.add_typer(golden_app, name="golden")

Server = Annotated[str, typer.Option("--server", help="the Triton HTTP endpoint, e.g. http://127.0.0.1:8000")]
Grpc = Annotated[
    str | None,
    typer.Option(
        "--grpc", help="the server's gRPC address, e.g. 127.0.0.1:8001: streaming (decoupled) models are asked over it"
    ),
]
Model = Annotated[str, typer.Option("--model", help="the model's name on that server")]
Version = Annotated[
    int | None,
    typer.Option("--version", min=1, help="the version to ask (default: the one unversioned requests reach)"),
]


def _server(url: str, grpc: str | None = None):
    from changeflow.bootstrap import model_server
    from changeflow.settings.environment import ServerEndpoint

    return model_server(ServerEndpoint(name=url, http_url=url, grpc_url=grpc))


@golden_app.command("capture")
@reports_errors
def capture(
    inputs: Annotated[
        Path,
        typer.Option(
            "--inputs",
            help='the cases\' inputs: JSON (a list of {input name: tensor}, or {"cases": […]}) or .npz (one array per input, first axis = case)',
        ),
    ],
    output: Annotated[Path, typer.Option("--out", "-o", help="where to write the golden set (JSON)")],
    server: Server,
    model: Model,
    version: Version = None,
    description: Annotated[str, typer.Option(help="what the golden set is for")] = "",
    grpc: Grpc = None,
) -> None:
    """Write a golden set whose expectations are what ``--version`` of the model answers for ``--inputs``."""
    from changeflow.services.golden_capture import capture_golden, read_inputs

    golden = capture_golden(_server(server, grpc), model, version, read_inputs(inputs), description)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        json.dumps(golden.model_dump(mode="json", exclude_defaults=True), indent=1) + "\n", encoding="utf-8"
    )
    outputs = ", ".join(sorted(golden.outputs))
    out.print(
        f"golden set of {len(golden.cases)} cases for {model} (outputs {outputs}) written to {output}", markup=False
    )


@golden_app.command("check")
@reports_errors
def check(
    file: Annotated[Path, typer.Argument(help="the golden set (JSON)")],
    server: Server,
    model: Annotated[
        str | None, typer.Option("--model", help="the model (default: the one the golden set names)")
    ] = None,
    version: Version = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the verdict as JSON")] = False,
    grpc: Grpc = None,
) -> None:
    """Run a golden set against a live model and print the verdict; exits 1 when it does not pass."""
    from changeflow.services.golden_capture import check_golden

    verdict = check_golden(_server(server, grpc), file, model, version)
    print(verdict.model_dump_json()) if as_json else out.print(str(verdict), markup=False)
    if not verdict.passed:
        raise typer.Exit(1)

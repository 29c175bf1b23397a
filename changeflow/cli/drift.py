"""``changeflow drift check``: one pass of the drift check from a terminal or a pipeline."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from changeflow.cli._app import app, out, reports_errors
from changeflow.cli._prefect import require_prefect
from changeflow.cli.changes import NEEDS_ATTENTION, EnvironmentOption, _environment
from changeflow.settings.defaults import ENVIRONMENT_FILE

UNAUTHORIZED_ON_RECORD = 9
drift_app = typer.Typer(
    help="Unauthorized changes: production against the state the records approved.", no_args_is_help=True
)
app.add_typer(drift_app, name="drift")


@drift_app.command("check")
@reports_errors
def check(
    environment: EnvironmentOption = ENVIRONMENT_FILE,
    governance_dir: Annotated[
        Path | None,
        typer.Option(
            "--governance",
            help="folder with drift.yaml (record | revert per model; default: CHANGEFLOW_GOVERNANCE, else the shipped examples)",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Compare every production target with its approved state once. Exits 0 when production is as
    approved, 9 when an unauthorized change is on record (new or still open), 6 when a revert failed or
    production could not be read (nobody can tell what it serves)."""
    settings = _environment(environment)
    if governance_dir is not None:
        os.environ["CHANGEFLOW_GOVERNANCE"] = str(governance_dir.resolve())
    from changeflow.settings.defaults import governance_dir as configured_governance
    from changeflow.settings.loader import load_governance

    governance = load_governance(configured_governance())
    require_prefect()
    from changeflow.flows.drift import drift_check

    report = drift_check(settings, governance)
    if as_json:
        print(report.model_dump_json())
    else:
        for entry in report.checks:
            mark = entry.step.value if entry.step is not None else "skipped"
            out.print(
                f"{entry.target}: {mark}: {entry.reason}" + (f" ({entry.record_id})" if entry.record_id else ""),
                markup=False,
            )
        out.print(
            f"unauthorized now: {', '.join(report.unauthorized) or 'none'}; still open: {', '.join(report.still_open) or 'none'}; "
            f"reverted: {', '.join(report.reverted) or 'none'}",
            markup=False,
        )
    if report.needs_attention:
        raise typer.Exit(NEEDS_ATTENTION)
    if not report.clean:
        raise typer.Exit(UNAUTHORIZED_ON_RECORD)

"""``changeflow demo``: the sample changes end to end on local Tritons and a Prefect server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from changeflow.cli._app import app, out, reports_errors


@app.command()
@reports_errors
def demo(
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
    keep_server: Annotated[
        bool, typer.Option("--keep-server", help="leave the Prefect server it started running")
    ] = False,
) -> None:
    """Run the sample changes in examples/changes end to end and print a summary."""
    from changeflow.local.demo import run_demo
    from changeflow.render.terminal import demo_table

    report = run_demo(progress=not as_json, keep_server=keep_server)
    if as_json:
        print(json.dumps(report.model_dump(mode="json")))
    else:
        out.print(demo_table(report))


@app.command()
@reports_errors
def examples(
    to: Annotated[
        Path | None, typer.Argument(help="copy them into this new folder (to edit); omitted: print where they are")
    ] = None,
) -> None:
    """The sample changes, governance files, golden sets and model repository that ship with changeflow."""
    import shutil

    from changeflow.exceptions import InvalidSettings
    from changeflow.settings import paths

    if to is None:
        print(paths.EXAMPLES)
        return
    if to.exists():
        raise InvalidSettings(str(to), "(folder)", "already exists", "name a new folder; nothing is overwritten")
    shutil.copytree(paths.EXAMPLES, to, ignore=shutil.ignore_patterns("__pycache__", "__init__.py"))
    out.print(
        f"examples copied to {to}: try `changeflow submit {to / 'changes' / 'normal-deploy-v2.yaml'} --dry-run`",
        markup=False,
    )

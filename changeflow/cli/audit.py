"""``changeflow audit verify | export``: what an auditor runs over the record database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from changeflow.cli._app import app, err, one_line, out, reports_errors
from changeflow.cli._prefect import record_store

audit_app = typer.Typer(help="Check and export the hash-chained record history.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
BROKEN = 8


@audit_app.command("verify")
@reports_errors
def verify(
    change_id: Annotated[Optional[str], typer.Argument(help="one change ID; omit with --all")] = None,
    every_record: Annotated[bool, typer.Option("--all", help="every record in the database")] = False,
    prefect: Annotated[bool, typer.Option("--prefect", help="also compare the records Prefect shows (artifacts) with the chains")] = False,
) -> None:
    """Walk the version chains; exit 8 naming the first broken link (a rewritten, removed or reordered version)."""
    from changeflow.exceptions import InvalidSettings
    from changeflow.services.audit import audit

    if (change_id is None) == (not every_record) or (change_id and every_record):
        raise InvalidSettings("audit verify", "ID", "give one change ID or --all", "e.g. `changeflow audit verify CHG-0002` or `changeflow audit verify --all`")
    published = None
    if prefect:
        from changeflow.adapters.prefect_records import artifact_records
        from changeflow.cli._prefect import require_prefect

        require_prefect()
        published = {r.id: r for r in artifact_records()}
    report = audit(record_store(), None if every_record else [change_id], published)
    if report.breaks:
        first = report.breaks[0]
        err.print(one_line("broken:", "bold red", f"{first.change_id} version {first.version}: {first.reason}"
                           + (f" (and {len(report.breaks) - 1} more record(s))" if len(report.breaks) > 1 else "")), highlight=False, soft_wrap=True)
        raise typer.Exit(BROKEN)
    out.print(f"intact: {report.records} record(s), {report.versions} version(s)", markup=False)


@audit_app.command("export")
@reports_errors
def export(file: Annotated[Path, typer.Argument(help="where to write the bundle (JSON lines)")]) -> None:
    """Write every version of every record as JSON lines, then the chain heads: an auditor's bundle."""
    from changeflow.services.audit import export as write

    with open(file, "w", encoding="utf-8") as handle:
        lines = write(record_store(), handle)
    out.print(f"{lines - 1} version(s) and the chain heads written to {file}", markup=False)

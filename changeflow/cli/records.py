"""``changeflow status | list | record``: read change records back from the Prefect server."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from changeflow.cli._app import app, out, reports_errors
from changeflow.cli._prefect import record_store


def _store():
    return record_store()


@app.command()
@reports_errors
def status(
    change_id: Annotated[str, typer.Argument(help="change ID, e.g. CHG-0002")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """One line: a change's state and outcome."""
    record = _store().load(change_id)
    if as_json:
        import json

        print(json.dumps({"id": record.id, "state": record.state.value, "outcome": record.outcome, "risk": record.risk.value}))
        return
    out.print(Text(f"{record.id} {record.type.value} {record.kind} {record.model}: {record.state.value} — {record.outcome or record.transitions[-1].reason}"))


@app.command("list")
@reports_errors
def list_changes(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """All changes on record."""
    records = _store().list()
    if as_json:
        import json

        print(json.dumps([{"id": r.id, "type": r.type.value, "kind": r.kind, "model": r.model, "state": r.state.value, "outcome": r.outcome} for r in records]))
        return
    table = Table(title="changes")
    for column in ("change", "type", "kind", "model", "risk", "state", "outcome"):
        table.add_column(column)
    for r in records:
        table.add_row(r.id, r.type.value, r.kind, r.model, r.risk.value, r.state.value, Text(r.outcome or "—"))
    out.print(table)


@app.command()
@reports_errors
def record(
    change_id: Annotated[str, typer.Argument(help="change ID, e.g. CHG-0002")],
    as_json: Annotated[bool, typer.Option("--json", help="print the whole record as JSON")] = False,
) -> None:
    """The full change record: risk, approvals, steps with times, versions, outcome."""
    found = _store().load(change_id)
    if as_json:
        print(found.model_dump_json(indent=1))
        return
    from rich.markdown import Markdown

    from changeflow.adapters.prefect import record_markdown

    out.print(Markdown(record_markdown(found, "").split("<details>")[0]))

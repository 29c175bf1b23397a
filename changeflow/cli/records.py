"""``changeflow status | record | history | records import | records migrate``: read the record
database (the system of record); ``records import`` brings in records that earlier releases kept only as
Prefect artifacts; ``records migrate`` runs the schema migrations as the schema owner."""

from __future__ import annotations

import re
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from changeflow.cli._app import app, out, reports_errors
from changeflow.cli._checks import record_id
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
    record = _store().load(record_id(change_id, "status"))
    if as_json:
        import json

        print(
            json.dumps(
                {"id": record.id, "state": record.state.value, "outcome": record.outcome, "risk": record.risk.value}
            )
        )
        return
    out.print(
        Text(
            f"{record.id} {record.type.value} {record.kind} {record.model}: {record.state.value} — {record.outcome or record.transitions[-1].reason}"
        )
    )


@app.command()
@reports_errors
def history(
    change_id: Annotated[str, typer.Argument(help="change ID, e.g. CHG-0002")],
    as_json: Annotated[bool, typer.Option("--json", help="print every version as JSON lines")] = False,
) -> None:
    """Every saved version of a change record: when, by whom, its state and its place in the hash chain."""
    versions = _store().history(record_id(change_id, "history"))
    if as_json:
        for v in versions:
            print(v.model_dump_json(exclude={"transitions_before"}))
        return
    table = Table(title=f"{change_id}: {len(versions)} versions")
    for column in ("version", "saved", "state", "writer", "sha256"):
        table.add_column(column)
    for v in versions:
        table.add_row(str(v.version), f"{v.saved_at:%Y-%m-%d %H:%M:%S}", v.state.value, Text(v.writer), v.sha256[:16])
    out.print(table)


records_app = typer.Typer(
    help="The record database: migrate it as its schema owner; import records kept as Prefect artifacts.",
    no_args_is_help=True,
)
app.add_typer(records_app, name="records")


@records_app.command("import")
@reports_errors
def import_records() -> None:
    """Copy every change record kept as a Prefect artifact (releases before 0.3) into the record database;
    records already there are left as they are."""
    from changeflow.adapters.prefect_records import artifact_records
    from changeflow.cli._prefect import require_prefect
    from changeflow.exceptions import RecordNotFound

    require_prefect()
    store = _store()
    imported = kept = 0
    for found in artifact_records():
        try:
            store.load(found.id)
            kept += 1
        except RecordNotFound:
            store.save(found)
            imported += 1
    out.print(f"imported {imported} record(s); {kept} already in the record database", markup=False)


ADMIN_URL = "CHANGEFLOW_RECORDS_ADMIN_URL"
_ROLE = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@records_app.command("migrate")
@reports_errors
def migrate_records(
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            envvar=ADMIN_URL,
            help="the schema owner's URL (a database administrator's); default: the record database's URL",
        ),
    ] = None,
    member: Annotated[
        list[str] | None,
        typer.Option(
            "--member",
            help="PostgreSQL: a login role the application uses, "
            "put in the writer group changeflow_writer (repeatable)",
        ),
    ] = None,
) -> None:
    """Bring the record database's schema to this release's revision, as its owner. On PostgreSQL the
    application (executors, the CLI) then connects as a login role in the group changeflow_writer, which
    may read and append history but not rewrite, delete or truncate it, nor touch the triggers."""
    from changeflow.adapters.sql_migrate import WRITER_ROLE, upgrade
    from changeflow.cli._prefect import _database
    from changeflow.exceptions import InvalidSettings
    from changeflow.settings.defaults import environment_or_default, environment_path

    if url is None:
        url = _database(environment_or_default().records if environment_path().is_file() else None).url
    elif not url.startswith(("sqlite:///", "postgresql+psycopg://", "postgresql://")) or url.rstrip("/") == "sqlite:":
        scheme = url.split(":", 1)[0].strip()[:20] if ":" in url else ""
        raise InvalidSettings(
            f"--url ({ADMIN_URL})",
            "url",
            f"is {f'a {scheme}: URL' if scheme else 'a URL without a scheme'}, not a database's",
            "use postgresql+psycopg://OWNER@HOST:PORT/DATABASE (or sqlite:///ABSOLUTE/PATH.db)",
        )
    url = url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url
    for name in member or []:
        if not _ROLE.fullmatch(name):
            raise InvalidSettings(
                "--member",
                "role",
                f"{name[:64]!r} is not a plain role name",
                "use lowercase letters, digits and underscores",
            )
    before, after = upgrade(url, member or [])
    where = url.split("@", 1)[-1] if "@" in url else url  # never the password
    out.print(f"record database {where}: revision {before or '(none)'} -> {after}", markup=False, soft_wrap=True)
    for name in member or []:
        out.print(f"{name} is a member of {WRITER_ROLE}", markup=False, soft_wrap=True)


@app.command()
@reports_errors
def record(
    change_id: Annotated[str, typer.Argument(help="change ID, e.g. CHG-0002")],
    as_json: Annotated[bool, typer.Option("--json", help="print the whole record as JSON")] = False,
) -> None:
    """The full change record: risk, approvals, steps with times, versions, outcome."""
    found = _store().load(record_id(change_id, "record"))
    if as_json:
        print(found.model_dump_json(indent=1))
        return
    from rich.markdown import Markdown

    from changeflow.render.record_markdown import record_markdown
    from changeflow.settings.defaults import display_zone

    out.print(Markdown(record_markdown(found, "", display_zone()).split("<details>")[0]))

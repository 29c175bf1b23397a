"""``changeflow list``: the changes on record, newest first, a page at a time, with when each was opened;
changes nobody requested (drift) in a table of their own. Only the page shown is read from the database,
so a list answers as fast at 10,000 records as at ten (``bench/scale.py`` times it), over the database's own
driver where it can (``adapters/sql_lines.py``)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from changeflow.cli._app import app, out, reports_errors
from changeflow.cli._prefect import record_lines, record_store

OUTCOME_CHARS = 90  # an outcome is cut here in the table (`changeflow record ID` shows it whole)
DRIFT_SHOWN = 10  # the newest unauthorized changes shown under the governed ones


@app.command("list")
@reports_errors
def list_changes(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON (every type, drift included)")] = False,
    model: Annotated[str | None, typer.Option(help="only changes to this model")] = None,
    state: Annotated[list[str] | None, typer.Option(help="only changes in this state (repeatable)")] = None,
    drift: Annotated[bool, typer.Option("--drift", help="only changes made outside changeflow")] = False,
    page: Annotated[int, typer.Option(help="which page, newest first (1: the newest)")] = 1,
    limit: Annotated[int, typer.Option(help="changes per page (1 to 5,000)")] = 50,
    every: Annotated[bool, typer.Option("--all", help="every matching change, not one page")] = False,
) -> None:
    """The changes on record, newest first, one page at a time (``--page``, ``--limit``, ``--all``)."""
    from changeflow.domain.history import RecordQuery
    from changeflow.domain.record import GOVERNED_TYPES, Unrequested
    from changeflow.exceptions import InvalidSettings
    from changeflow.settings.defaults import display_zone

    if page < 1:
        raise InvalidSettings("list", "--page", f"is {page}", "pages count from 1 (the newest)")
    if not 1 <= limit <= 5_000:
        raise InvalidSettings("list", "--limit", f"is {limit}", "give 1 to 5,000 changes per page")
    states = _states(state)
    types = frozenset(Unrequested) if drift else (None if as_json else GOVERNED_TYPES)
    query = RecordQuery(model=model, states=states, types=types, limit=limit)
    newest = _newest()
    shown, total = _read(newest, query, (page - 1) * limit, every)
    if as_json:
        import json

        print(json.dumps([_row(r) for r in shown]))
        return
    zone = display_zone()
    title = "unauthorized changes (made outside changeflow)" if drift else "changes"
    out.print(_table(title, shown, zone))
    last_page = max(1, -(-total // limit))
    where = f"{len(shown)} of {total:,}" if every else f"page {page} of {last_page:,} ({total:,} in all)"
    more = f"; next: changeflow list --page {page + 1}" if not every and page < last_page else ""
    out.print(f"{where}, newest first{more}", markup=False, highlight=False)
    if not drift and states is None:
        unauthorized = newest(RecordQuery(model=model, types=frozenset(Unrequested), limit=DRIFT_SHOWN))
        if unauthorized.total:
            out.print(_table("unauthorized changes (made outside changeflow)", unauthorized.records, zone))
            out.print(
                f"{len(unauthorized.records)} of {unauthorized.total:,} shown: changeflow list --drift",
                markup=False,
                highlight=False,
            )


def _newest():
    """``newest(query, offset)``: the page from the database's own driver (``record_lines``, found once per
    command), else from the record store, which also migrates a database not at the newest schema revision
    or says why it cannot be read."""
    lines = record_lines()
    return lambda query, offset=0: lines.newest(query, offset) or record_store().newest(query, offset)


def _read(newest, query, offset: int, every: bool) -> tuple[list, int]:
    """One page at ``offset``, or with ``every`` all pages, and the count of all that match."""
    found = newest(query, offset)
    shown = list(found.records)
    while every and len(shown) < found.total and found.records:
        found = newest(query, len(shown))
        shown += found.records
    return shown, found.total


def _row(r) -> dict:
    return {
        "id": r.id,
        "type": r.type.value,
        "kind": r.kind,
        "model": r.model,
        "state": r.state.value,
        "opened_at": r.opened_at.isoformat() if r.opened_at else None,
        "outcome": r.outcome,
    }


def _table(title: str, records: list, zone) -> Table:
    table = Table(title=title)
    for column in ("change", "opened", "type", "kind", "model", "risk", "state", "outcome"):
        table.add_column(column, overflow="fold" if column == "outcome" else "ellipsis")
    for r in records:
        opened = r.opened_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if r.opened_at else "—"
        outcome = " ".join((r.outcome or "—").split())
        if len(outcome) > OUTCOME_CHARS:
            outcome = outcome[: OUTCOME_CHARS - 1] + "…"
        table.add_row(r.id, opened, r.type.value, r.kind, r.model, r.risk.value, r.state.value, Text(outcome))
    return table


def _states(names: list[str] | None):
    from changeflow.domain.record import State
    from changeflow.exceptions import InvalidSettings

    if not names:
        return None
    known = {s.value for s in State}
    if unknown := [n for n in names if n not in known]:
        raise InvalidSettings(
            "--state", "state", f"unknown state {unknown[0][:40]!r}", f"use one of: {', '.join(sorted(known))}"
        )
    return frozenset(State(n) for n in names)

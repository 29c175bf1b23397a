"""``changeflow report`` (DORA keys from the records) and ``changeflow calendar`` (windows, freezes,
scheduled changes)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from changeflow.cli import _checks as checks
from changeflow.cli._app import app, out, reports_errors
from changeflow.cli._prefect import record_store
from changeflow.settings import paths


def _records(query):
    from changeflow.services.records import every

    return list(every(record_store(), query))


@app.command()
@reports_errors
def report(
    days: Annotated[int, typer.Option(help="period: the last N days")] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    html: Annotated[Path | None, typer.Option(help="also write an HTML report with a chart")] = None,
) -> None:
    """DORA keys computed from the change records: lead time, deployment frequency, change fail rate, recovery time."""
    from changeflow.domain.dora import dora_from_facts
    from changeflow.domain.history import RecordQuery
    from changeflow.services.records import every_fact

    end = datetime.now(timezone.utc)
    start = end - timedelta(days=checks.days(days, "report"))
    facts = list(every_fact(record_store(), RecordQuery(opened_from=start, opened_until=end, limit=5_000)))
    result = dora_from_facts(facts, start, end)
    if html:
        html.write_text(report_page(result, facts, start, end), encoding="utf-8")
    if as_json:
        print(result.model_dump_json())
        return
    table = Table(title=f"change performance, last {days} days ({result.changes} changes)")
    table.add_column("key")
    table.add_column("value")
    rate = (
        "—"
        if result.change_fail_rate is None
        else f"{result.change_fail_rate:.0%} ({result.failed} of {result.executed} executed; "
        f"{result.changes - result.executed} never reached production)"
    )
    table.add_row("deployment frequency", f"{result.deployment_frequency_per_day:.2f} per day")
    table.add_row(
        "lead time (median)", "—" if result.lead_time_hours_median is None else f"{result.lead_time_hours_median:.2f} h"
    )
    table.add_row("change fail rate", rate)
    table.add_row(
        "recovery time (median)",
        "—" if result.recovery_minutes_median is None else f"{result.recovery_minutes_median:.2f} min",
    )
    table.add_row(
        "unauthorized changes (not in the keys)",
        f"{result.unauthorized} ({result.unauthorized_reverted} reverted, {result.unauthorized_open} open)",
    )
    out.print(table)
    if html:
        out.print(f"HTML report written to {html}")


def report_page(result, facts: list, start: datetime, end: datetime) -> str:
    """The HTML page: the keys (``result``, from ``facts`` of the period) against the period of the same
    length before, per model, the changes of the period (newest 200) and the unauthorized ones."""
    from changeflow.domain.dora import dora_from_facts, dora_per_model
    from changeflow.domain.history import RecordQuery
    from changeflow.domain.record import GOVERNED_TYPES, Unrequested
    from changeflow.render.html import report_html
    from changeflow.services.records import every_fact
    from changeflow.settings.defaults import display_zone

    store = record_store()
    length = end - start
    before = dora_from_facts(
        list(every_fact(store, RecordQuery(opened_from=start - length, opened_until=start, limit=5_000))),
        start - length,
        start,
    )
    period = {"opened_from": start, "opened_until": end, "limit": 200}
    changes = store.newest(RecordQuery(types=GOVERNED_TYPES, **period))
    drift = store.newest(RecordQuery(types=frozenset({Unrequested.UNAUTHORIZED}), **period))
    return report_html(
        result,
        before=before if before.changes else None,
        per_model=dora_per_model(facts, start, end),
        changes=(changes.records, changes.total),
        unauthorized=(drift.records, drift.total),
        zone=display_zone(),
    )


def unauthorized_rows(since: datetime) -> list[tuple[datetime, datetime, str]]:
    """Unauthorized changes seen since ``since`` or still open, each at the time it was seen."""
    from changeflow.domain.history import RecordQuery
    from changeflow.domain.record import State, Unrequested

    found = {r.id: r for r in _records(RecordQuery(types=frozenset({Unrequested.UNAUTHORIZED}), opened_from=since))}
    found.update(
        {
            r.id: r
            for r in _records(
                RecordQuery(types=frozenset({Unrequested.UNAUTHORIZED}), states=frozenset({State.DETECTED}))
            )
        }
    )
    return [
        (
            r.transitions[0].at,
            r.transitions[-1].at,
            f"UNAUTHORIZED change {r.id} on {r.model} ({r.state.value}): {r.drift.summary() if r.drift else r.description}",
        )
        for r in sorted(found.values(), key=lambda r: r.transitions[0].at)
    ]


@app.command()
@reports_errors
def calendar(
    days: Annotated[int, typer.Option(help="how far ahead")] = 14,
    calendar_file: Annotated[Path, typer.Option("--calendar", help="the change calendar")] = paths.EXAMPLES
    / "calendar.yaml",
    now: Annotated[datetime | None, typer.Option(help="from when (ISO time with offset); default: now")] = None,
    with_changes: Annotated[
        bool,
        typer.Option(
            "--changes/--no-changes",
            help="also list open changes with a slot, and unauthorized changes, from the record database",
        ),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Upcoming maintenance windows, freezes and scheduled changes; unauthorized changes of the last ``days``
    days (and any still open) are marked UNAUTHORIZED at the time they were seen."""
    from changeflow.domain.history import OPEN, RecordQuery
    from changeflow.domain.windows import Calendar, upcoming
    from changeflow.settings.loader import load_settings_file

    checks.days(days, "calendar")
    cal = load_settings_file(calendar_file, Calendar)
    start = now or datetime.now(timezone.utc)
    rows = [(s, e, what) for s, e, what in upcoming(cal, start, days)]
    if with_changes:
        rows += [
            (r.slot_start, r.slot_end, f"change {r.id} ({r.type.value} {r.kind} on {r.model}, {r.state.value})")
            for r in _records(RecordQuery(states=OPEN))
            if r.slot_start and r.slot_end and r.slot_end > start
        ]
        rows += unauthorized_rows(start - timedelta(days=days))
    rows.sort(key=lambda row: row[0])
    if as_json:
        print(json.dumps([{"start": s.isoformat(), "end": e.isoformat(), "what": w} for s, e, w in rows]))
        return
    table = Table(
        title=f"change calendar ({cal.timezone}; business hours {cal.business_hours.start:%H:%M}–{cal.business_hours.end:%H:%M} {', '.join(cal.business_hours.days)})"
    )
    for column in ("from", "until", "what"):
        table.add_column(column)
    zone = cal.zone
    for s, e, what in rows:
        table.add_row(f"{s.astimezone(zone):%a %Y-%m-%d %H:%M}", f"{e.astimezone(zone):%a %Y-%m-%d %H:%M}", Text(what))
    out.print(table)

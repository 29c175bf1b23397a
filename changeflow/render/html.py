"""The DORA report as one self-contained HTML page: each key with its tier and its trend against the
period before, changes per day (a labelled chart), a table per model, the changes of the period and the
unauthorized ones. Pure: the CLI reads the records and writes the file."""

from __future__ import annotations

from datetime import timezone
from html import escape

from changeflow.domain.dora import DoraReport
from changeflow.domain.dora_tiers import Key, keys
from changeflow.domain.history import RecordLine

COLOURS = {
    "closed": "#2e7d32",
    "review_pending": "#66bb6a",
    "rolled_back": "#c62828",
    "aborted": "#ef6c00",
    "rejected": "#757575",
    "expired": "#9e9e9e",
}
TIER_COLOURS = {"elite": "#1b5e20", "high": "#2e7d32", "medium": "#f9a825", "low": "#c62828"}
ARROWS = {"better": "▲ better", "worse": "▼ worse", "same": "● about the same", "": ""}
STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}"
    ".keys{display:flex;gap:1em;flex-wrap:wrap}.key{border:1px solid #ddd;border-radius:8px;padding:1em;flex:1;"
    "min-width:210px}.key .v{font-size:1.8em;font-weight:600}.tier{color:#fff;border-radius:4px;padding:0 .4em;"
    "font-size:.85em}.trend{color:#555;font-size:.9em}table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "th,td{text-align:left;padding:.25em .8em;border-bottom:1px solid #eee;vertical-align:top}"
    "td.n{text-align:right}.muted{color:#777}"
)


def _value(key: Key, value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0%}" if key.unit == "" else f"{value:.2f} {key.unit}"


def _key_card(key: Key) -> str:
    tier = (
        f"<span class='tier' style='background:{TIER_COLOURS[key.tier.value]}'>{key.tier.value}</span>"
        if key.tier
        else "<span class='muted'>no data</span>"
    )
    before = f" (before: {escape(_value(key, key.previous))})" if key.previous is not None else ""
    return (
        f"<div class='key'><div>{escape(key.name)}</div><div class='v'>{escape(_value(key, key.value))}</div>"
        f"<div>{tier} <span class='trend'>{ARROWS[key.trend]}{before}</span></div></div>"
    )


def _chart(report: DoraReport) -> str:
    days = list(report.per_day.items())
    if not days:
        return "<p class='muted'>No changes in this period.</p>"
    top = max(sum(counts.values()) for _, counts in days)
    width, height, bar = 60 * len(days) + 60, 220, 36
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 40}" role="img" '
        f'aria-label="changes per day, by outcome">'
        f'<text x="0" y="12" font-size="11">changes</text><text x="0" y="{height}" font-size="11">0</text>'
        f'<text x="0" y="{height - 180 + 12}" font-size="11">{top}</text>'
    ]
    for i, (day, counts) in enumerate(days):
        x, y = 50 + 60 * i, height
        for state, count in sorted(counts.items()):
            h = 180 * count / top
            y -= h
            parts.append(
                f'<rect x="{x}" y="{y:.1f}" width="{bar}" height="{h:.1f}" fill="{COLOURS.get(state, "#1565c0")}">'
                f"<title>{escape(day)} {escape(state)}: {count}</title></rect>"
            )
        parts.append(
            f'<text x="{x + bar / 2}" y="{height + 16}" font-size="10" text-anchor="middle">{escape(day[5:])}</text>'
        )
    legend = " ".join(f'<span style="color:{c}">■ {s.replace("_", " ")}</span>' for s, c in COLOURS.items())
    return "".join(parts) + "</svg><p>" + legend + "</p>"


def _per_model(per_model: dict[str, DoraReport]) -> str:
    if not per_model:
        return "<p class='muted'>No changes in this period.</p>"
    head = "<tr><th>model</th><th>changes</th><th>executed</th><th>failed</th><th>fail rate</th><th>lead time (median)</th></tr>"
    rows = "".join(
        f"<tr><td>{escape(m)}</td><td class='n'>{r.changes}</td><td class='n'>{r.executed}</td>"
        f"<td class='n'>{r.failed}</td><td class='n'>{'—' if r.change_fail_rate is None else f'{r.change_fail_rate:.0%}'}</td>"
        f"<td class='n'>{'—' if r.lead_time_hours_median is None else f'{r.lead_time_hours_median:.2f} h'}</td></tr>"
        for m, r in per_model.items()
    )
    return f"<table>{head}{rows}</table>"


def _changes(records: list[RecordLine], total: int, zone, empty: str) -> str:
    if not records:
        return f"<p class='muted'>{escape(empty)}</p>"
    head = "<tr><th>change</th><th>opened</th><th>type</th><th>model</th><th>state</th><th>outcome</th></tr>"
    rows = "".join(
        f"<tr><td>{escape(r.id)}</td>"
        f"<td>{r.opened_at.astimezone(zone):%Y-%m-%d %H:%M %Z}</td>"
        f"<td>{escape(r.type.value)}</td><td>{escape(r.model)}</td>"
        f"<td style='color:{COLOURS.get(r.state.value, '#222')}'>{escape(r.state.value.replace('_', ' '))}</td>"
        f"<td>{escape(' '.join(r.outcome.split())[:160])}</td></tr>"
        for r in records
        if r.opened_at is not None
    )
    more = f"<p class='muted'>{len(records)} newest of {total:,}: `changeflow list` pages through all.</p>"
    return f"<table>{head}{rows}</table>" + (more if total > len(records) else "")


def report_html(
    report: DoraReport,
    before: DoraReport | None = None,
    per_model: dict[str, DoraReport] | None = None,
    changes: tuple[list[RecordLine], int] = ([], 0),
    unauthorized: tuple[list[RecordLine], int] = ([], 0),
    zone=timezone.utc,
) -> str:
    cards = "".join(_key_card(k) for k in keys(report, before))
    not_executed = report.changes - report.executed
    counted = (
        f"{report.changes} changes; {report.executed} executed (the fail rate counts these), "
        f"{not_executed} never reached production (aborted in staging, rejected, expired or waiting), "
        f"{report.failed} failed in production. Unauthorized changes (made outside changeflow): "
        f"{report.unauthorized} ({report.unauthorized_reverted} reverted, {report.unauthorized_open} open), "
        "not counted in the keys."
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>changeflow: change performance</title>"
        f"<style>{STYLE}</style></head><body>"
        f"<h1>Change performance</h1><p>{report.period_start:%Y-%m-%d} – {report.period_end:%Y-%m-%d}"
        + (" (trend: against the period of the same length before)" if before is not None else "")
        + f"</p><div class='keys'>{cards}</div><p>{escape(counted)}</p>"
        f"<h2>Changes per day, by outcome</h2>{_chart(report)}"
        f"<h2>By model</h2>{_per_model(per_model or {})}"
        f"<h2>Changes in this period</h2>{_changes(*changes, zone, 'No changes in this period.')}"
        f"<h2>Unauthorized changes</h2>{_changes(*unauthorized, zone, 'None seen in this period.')}"
        "</body></html>"
    )

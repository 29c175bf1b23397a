"""The DORA report as a small self-contained HTML page with an SVG bar chart of changes per day."""

from __future__ import annotations

from html import escape

from changeflow.domain.dora import DoraReport

COLOURS = {
    "closed": "#2e7d32",
    "review_pending": "#66bb6a",
    "rolled_back": "#c62828",
    "aborted": "#ef6c00",
    "rejected": "#757575",
    "expired": "#9e9e9e",
}


def _chart(report: DoraReport) -> str:
    days = list(report.per_day.items())
    if not days:
        return "<p>No changes in this period.</p>"
    top = max(sum(counts.values()) for _, counts in days)
    width, height, bar = 60 * len(days) + 40, 220, 36
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 40}" role="img" aria-label="changes per day">'
    ]
    for i, (day, counts) in enumerate(days):
        x, y = 30 + 60 * i, height
        for state, count in sorted(counts.items()):
            h = 180 * count / top
            y -= h
            parts.append(
                f'<rect x="{x}" y="{y:.1f}" width="{bar}" height="{h:.1f}" fill="{COLOURS.get(state, "#1565c0")}"><title>{escape(state)}: {count}</title></rect>'
            )
        parts.append(
            f'<text x="{x + bar / 2}" y="{height + 16}" font-size="10" text-anchor="middle">{escape(day[5:])}</text>'
        )
    legend = " ".join(f'<span style="color:{c}">■ {s}</span>' for s, c in COLOURS.items())
    return "".join(parts) + "</svg><p>" + legend + "</p>"


def _fmt(value, unit: str) -> str:
    return "—" if value is None else f"{value:.2f} {unit}"


def report_html(report: DoraReport) -> str:
    rate = "—" if report.change_fail_rate is None else f"{report.change_fail_rate:.0%}"
    rows = [
        ("Deployment frequency", _fmt(report.deployment_frequency_per_day, "per day")),
        ("Lead time for changes (median)", _fmt(report.lead_time_hours_median, "h")),
        ("Change fail rate", f"{rate} ({report.failed} of {report.executed} executed)"),
        ("Failed-deployment recovery time (median)", _fmt(report.recovery_minutes_median, "min")),
    ]
    table = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>changeflow DORA report</title>"
        "<style>body{font-family:sans-serif;margin:2em}th{text-align:left;padding-right:2em}</style></head><body>"
        f"<h1>Change performance</h1><p>{report.period_start:%Y-%m-%d} – {report.period_end:%Y-%m-%d}: {report.changes} changes</p>"
        f"<table>{table}</table><h2>Changes per day</h2>{_chart(report)}</body></html>"
    )

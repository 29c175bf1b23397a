"""A change record as one markdown page for the Prefect UI: what happened in plain words first, then who
decided (a table), the steps, the transitions, and the statistics and full record below. Times are shown in
the governance calendar's time zone, with its name. Pure: the Prefect adapter publishes it."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from changeflow.domain.record import Approval, ChangeRecord, State, StepRecord

ON_DOUBT = {"approve": "promote anyway", "reject": "roll back"}  # a decision on a doubtful bake


def cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def shown_time(value: datetime | None, zone: ZoneInfo | timezone = timezone.utc) -> str:
    """``2026-11-25 22:03:12 CET``: in the calendar's zone, named; a naive time is taken as UTC."""
    if value is None:
        return "—"
    aware = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    return aware.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def versions(record: ChangeRecord) -> str:
    before, after = record.serving_version_before, record.serving_version_after
    return f"version {after}" + (f" (was {before})" if before is not None and before != after else "")


def headline(record: ChangeRecord) -> str:
    """What happened, as a person would say it; never more than the record observed."""
    why = record.transitions[-1].reason if record.transitions else ""
    model = f"`{record.model}`"
    if record.state is State.CLOSED:
        serving = f": {model} serves {versions(record)}" if record.serving_version_after is not None else ""
        return f"**Done{serving}.**"
    if record.state is State.REVIEW_PENDING:
        return "**Done; its post-implementation review is owed.**"
    if record.state is State.ROLLED_BACK:
        back = f" (version {record.serving_version_before})" if record.serving_version_before is not None else ""
        return f"**Rolled back: production is back to what it served before{back}.** {why}".rstrip()
    if record.state is State.ABORTED:
        where = "production was touched and restored" if record.production_touched else "production was not touched"
        return f"**Stopped; {where}.** {why}".rstrip()
    if record.state is State.REJECTED:
        return f"**Rejected; nothing was changed.** {why}".rstrip()
    if record.state is State.EXPIRED:
        return f"**Expired; nothing was changed.** {why}".rstrip()
    if record.state is State.DETECTED:
        return f"**Production changed outside changeflow; not settled yet.** {why}".rstrip()
    return f"**In progress: {record.state.value.replace('_', ' ')}.** {why}".rstrip()


def decisions_table(title: str, approvals: list[Approval], zone, verbs: dict[str, str] | None = None) -> list[str]:
    if not approvals:
        return []
    lines = [f"### {title}", "", "| who | decision | when | counted | proof | comment |", "|---|---|---|---|---|---|"]
    for a in approvals:
        counted = "yes" if a.counted else f"**no**: {cell(a.refusal)}"
        verb = (verbs or {}).get(a.decision, a.decision)
        lines.append(
            f"| {cell(a.approver)} | {verb} | {shown_time(a.at, zone)} | {counted} | {a.proof or '—'} | {cell(a.comment)} |"
        )
    return lines + [""]


def steps_table(title: str, steps: list[StepRecord], zone) -> list[str]:
    if not steps:
        return []
    lines = [f"### {title}", "", "| step | started | ended | outcome | detail |", "|---|---|---|---|---|"]
    lines += [
        f"| {s.name} | {shown_time(s.started_at, zone)} | {shown_time(s.ended_at, zone)} | {s.outcome or 'running'} "
        f"| {cell(s.detail)} |"
        for s in steps
    ]
    return lines + [""]


def drift_section(record: ChangeRecord, zone) -> list[str]:
    """An unauthorized change's diff: approved (by which record) against what was seen, and when."""
    drift = record.drift
    if drift is None:
        return []
    lines = [
        "### Unauthorized change",
        "",
        f"{drift.target}, seen {shown_time(drift.seen.seen_at, zone)}; approved state from {drift.approved_by} "
        f"(seen {shown_time(drift.approved.seen_at, zone)})",
        "",
        "| fact | approved | seen |",
        "|---|---|---|",
    ]
    lines += [
        f"| {cell(c.fact)} | {cell(c.approved or '(none)')} | {cell(c.seen or '(none)')} |" for c in drift.changes
    ]
    return lines + [""] + [f"- {cell(d)}" for d in drift.details] + ([""] if drift.details else [])


def record_markdown(record: ChangeRecord, as_json: str, zone: ZoneInfo | timezone = timezone.utc) -> str:
    rows = [
        ("change", f"{record.id}: {record.description}"),
        ("type / kind", f"{record.type.value} / {record.kind}"),
        ("model", record.model),
        ("state", record.state.value),
        ("risk", f"{record.risk.value}: {'; '.join(record.risk_reasons) or 'baseline'}"),
        ("requested by", record.requester),
        ("serving version", f"{record.serving_version_before or '—'} → {record.serving_version_after or '—'}"),
    ]
    lines = [f"## Change {record.id}", "", headline(record), ""]
    lines += ["| | |", "|---|---|", *[f"| **{k}** | {cell(v)} |" for k, v in rows], ""]
    lines += decisions_table("Approvals", record.approvals, zone)
    lines += decisions_table("Decisions on a doubtful bake", record.bake_decisions, zone, ON_DOUBT)
    lines += drift_section(record, zone)
    lines += steps_table("Execution", record.execution_steps, zone)
    lines += steps_table("Verification", record.verification_steps, zone)
    lines += steps_table("Rollback", record.rollback_steps, zone)
    lines += ["### Transitions", ""]
    lines += [f"- {shown_time(t.at, zone)} **{t.to_state.value}**: {cell(t.reason)}" for t in record.transitions]
    lines += ["", "### Outcome in full", "", cell(record.outcome or "—"), ""]
    return "\n".join(
        lines + ["<details><summary>record (JSON)</summary>", "", "```json", as_json, "```", "", "</details>"]
    )

"""The change record as markdown for the Prefect UI: a summary table, the steps, then the JSON."""

from __future__ import annotations

from changeflow.domain.record import ChangeRecord, StepRecord


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _time(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "—"


def _steps(title: str, steps: list[StepRecord]) -> list[str]:
    if not steps:
        return []
    lines = [f"### {title}", "", "| step | started | ended | outcome | detail |", "|---|---|---|---|---|"]
    lines += [f"| {s.name} | {_time(s.started_at)} | {_time(s.ended_at)} | {s.outcome or 'running'} | {_cell(s.detail)} |" for s in steps]
    return lines + [""]


def record_markdown(record: ChangeRecord, as_json: str) -> str:
    approvals = "; ".join(f"{a.approver} {a.decision}s ({_time(a.at)}){': ' + a.comment if a.comment else ''}" for a in record.approvals) or "—"
    rows = [
        ("change", f"{record.id} — {record.description}"),
        ("type / kind", f"{record.type.value} / {record.kind.value}"),
        ("model", record.model),
        ("state", record.state.value),
        ("risk", f"{record.risk.value}: {'; '.join(record.risk_reasons) or 'baseline'}"),
        ("requester", record.requester),
        ("approvals", approvals),
        ("serving version", f"{record.serving_version_before or '—'} → {record.serving_version_after or '—'}"),
        ("outcome", record.outcome or "—"),
    ]
    lines = [f"## Change {record.id}", "", "| | |", "|---|---|"] + [f"| **{k}** | {_cell(v)} |" for k, v in rows] + [""]
    lines += _steps("Execution", record.execution_steps) + _steps("Verification", record.verification_steps) + _steps("Rollback", record.rollback_steps)
    lines += ["### Transitions", ""] + [f"- {_time(t.at)} **{t.to_state.value}** — {_cell(t.reason)}" for t in record.transitions] + [""]
    return "\n".join(lines + ["<details><summary>record (JSON)</summary>", "", "```json", as_json, "```", "", "</details>"])

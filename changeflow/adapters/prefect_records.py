"""Change records as Prefect shows them: a markdown artifact per change and an event per transition.

The record database is the system of record; this is the face. Each saved version updates the artifact
keyed by the change ID (``CHG-0042`` → ``chg-0042``: a table for the UI, the full record as JSON below
it) and sends one ``changeflow.change.<state>`` event per new lifecycle transition, carrying the
version's chain digest. ``artifact_records`` reads the records earlier releases kept only as artifacts,
a page at a time, for ``changeflow records import``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from prefect.artifacts import create_markdown_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import ArtifactCreate
from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey
from prefect.client.schemas.sorting import ArtifactCollectionSort
from prefect.context import FlowRunContext, TaskRunContext
from prefect.events import emit_event

from changeflow.domain.history import RecordVersion
from changeflow.domain.record import Approval, ChangeRecord, StepRecord

_JSON_BLOCK = re.compile(r"```json\n(.*?)\n```", re.S)
PAGE = 200  # the server's own cap per call (measured): read in pages of it, never once


def artifact_key(change_id: str) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only (measured): CHG-0042 → chg-0042."""
    return re.sub(r"[^a-z0-9-]", "-", change_id.lower())


def change_resource(change_id: str, **labels: str) -> dict[str, str]:
    return {"prefect.resource.id": f"changeflow.change.{change_id}", "prefect.resource.name": change_id, **labels}


class PrefectRecordPublisher:
    def publish(self, record: ChangeRecord, version: RecordVersion) -> None:
        markdown = record_markdown(record, record.model_dump_json(indent=1))
        description = (
            f"{record.id} ({record.type.value} {record.kind}) — {record.state.value} (version {version.version})"
        )
        if FlowRunContext.get() or TaskRunContext.get():  # linked to the run in the UI
            create_markdown_artifact(markdown=markdown, key=artifact_key(record.id), description=description)
        else:  # e.g. `changeflow review`: no run to link to
            with get_client(sync_client=True) as client:
                client.create_artifact(
                    ArtifactCreate(key=artifact_key(record.id), type="markdown", data=markdown, description=description)
                )
        labels = {
            "changeflow.model": record.model,
            "changeflow.type": record.type.value,
            "changeflow.kind": record.kind,
        }
        for transition in record.transitions[version.transitions_before :]:  # each transition: one event, once
            emit_event(
                event=f"changeflow.change.{transition.to_state.value}",
                resource=change_resource(record.id, **labels),
                occurred=transition.at,
                payload={
                    "from": transition.from_state.value if transition.from_state else None,
                    "reason": transition.reason,
                    "risk": record.risk.value,
                    "version": version.version,
                    "sha256": version.sha256,
                },
            )


def artifact_records() -> Iterator[ChangeRecord]:
    """Every change record kept as an artifact on the Prefect server (latest version of each), paged."""
    offset = 0
    with get_client(sync_client=True) as client:
        while True:
            found = client.read_latest_artifacts(
                artifact_filter=ArtifactCollectionFilter(key=ArtifactCollectionFilterKey(like_="chg-")),
                sort=ArtifactCollectionSort.KEY_ASC,
                limit=PAGE,
                offset=offset,
            )
            for artifact in found:
                if isinstance(artifact.data, str) and (match := _JSON_BLOCK.search(artifact.data)):
                    yield ChangeRecord.model_validate_json(match.group(1))
            if len(found) < PAGE:
                return
            offset += PAGE


def announce_records(what: str, payload: dict) -> bool:
    """A ``changeflow.records.<what>`` event about the record database (a signed checkpoint, one refused)
    when a Prefect API is configured; never raises: the checkpoint file is the record. A payload over
    Prefect's event size goes without its heads (the signature covers their digest; the file has them)."""
    import hashlib
    import logging

    from prefect.exceptions import EventTooLarge
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        return False
    store = str(payload.get("store", ""))
    resource = {
        "prefect.resource.id": f"changeflow.records.{hashlib.sha256(store.encode()).hexdigest()[:16]}",
        "prefect.resource.name": store,
    }
    try:
        try:
            return emit_event(event=f"changeflow.records.{what}", resource=resource, payload=payload) is not None
        except EventTooLarge:
            slim = {k: v for k, v in payload.items() if k != "heads"} | {"heads_omitted": len(payload.get("heads", {}))}
            return emit_event(event=f"changeflow.records.{what}", resource=resource, payload=slim) is not None
    except Exception as exc:  # a server that does not answer: the checkpoint file is the record
        logging.getLogger("changeflow.records").warning("changeflow.records.%s not announced: %s", what, exc)
        return False


# --- markdown for the Prefect UI --------------------------------------------------------------


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _time(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "—"


def _steps(title: str, steps: list[StepRecord]) -> list[str]:
    if not steps:
        return []
    lines = [f"### {title}", "", "| step | started | ended | outcome | detail |", "|---|---|---|---|---|"]
    lines += [
        f"| {s.name} | {_time(s.started_at)} | {_time(s.ended_at)} | {s.outcome or 'running'} | {_cell(s.detail)} |"
        for s in steps
    ]
    return lines + [""]


def _decision(a: Approval, verbs: dict[str, str] | None = None) -> str:
    verb = (verbs or {}).get(a.decision, f"{a.decision}s")
    said = f"{a.approver} {verb} ({_time(a.at)}){': ' + a.comment if a.comment else ''}"
    return said if a.counted else f"~~{said}~~ (refused, not counted: {a.refusal})"


ON_DOUBT = {"approve": "promotes anyway", "reject": "rolls back"}  # a decision on a doubtful bake


def _drift(record: ChangeRecord) -> list[str]:
    """An unauthorized change's diff: approved (by which record) against what was seen, and when."""
    drift = record.drift
    if drift is None:
        return []
    lines = [
        "### Unauthorized change",
        "",
        f"{drift.target}, seen {_time(drift.seen.seen_at)}; approved state from {drift.approved_by} "
        f"(seen {_time(drift.approved.seen_at)})",
        "",
        "| fact | approved | seen |",
        "|---|---|---|",
    ]
    lines += [
        f"| {_cell(c.fact)} | {_cell(c.approved or '(none)')} | {_cell(c.seen or '(none)')} |" for c in drift.changes
    ]
    return lines + [""] + [f"- {_cell(d)}" for d in drift.details] + ([""] if drift.details else [])


def record_markdown(record: ChangeRecord, as_json: str) -> str:
    approvals = "; ".join(_decision(a) for a in record.approvals) or "—"
    rows = [
        ("change", f"{record.id} — {record.description}"),
        ("type / kind", f"{record.type.value} / {record.kind}"),
        ("model", record.model),
        ("state", record.state.value),
        ("risk", f"{record.risk.value}: {'; '.join(record.risk_reasons) or 'baseline'}"),
        ("requester", record.requester),
        ("approvals", approvals),
        *(
            [("bake decisions", "; ".join(_decision(a, ON_DOUBT) for a in record.bake_decisions))]
            if record.bake_decisions
            else []
        ),
        ("serving version", f"{record.serving_version_before or '—'} → {record.serving_version_after or '—'}"),
        ("outcome", record.outcome or "—"),
    ]
    lines = [f"## Change {record.id}", "", "| | |", "|---|---|"] + [f"| **{k}** | {_cell(v)} |" for k, v in rows] + [""]
    lines += _drift(record)
    lines += (
        _steps("Execution", record.execution_steps)
        + _steps("Verification", record.verification_steps)
        + _steps("Rollback", record.rollback_steps)
    )
    lines += (
        ["### Transitions", ""]
        + [f"- {_time(t.at)} **{t.to_state.value}** — {_cell(t.reason)}" for t in record.transitions]
        + [""]
    )
    return "\n".join(
        lines + ["<details><summary>record (JSON)</summary>", "", "```json", as_json, "```", "", "</details>"]
    )

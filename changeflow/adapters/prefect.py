"""Prefect as changeflow's face and coordinator: change records as artifacts and events, the per-model
lock, and the approval client that resumes paused changes.

- ``PrefectRecordStore``: each save adds a version to the markdown artifact keyed by the change ID
  (``CHG-0042`` → ``chg-0042``: a table for the UI, the full record as JSON below it, which ``load``
  reads back) and one event per new lifecycle transition (``changeflow.change.<state>``).
- ``PrefectModelLocks``: a global concurrency limit of 1 per model. Measured in Prefect 3.8.8:
  acquiring a limit that does not exist logs "skipping acquisition" and serialises nothing, so the
  limit is created first and acquired with ``strict=True``.
- the markdown the UI shows: the record (its JSON below the tables is what ``load`` reads back) and the
  summary above an approval form.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from prefect.artifacts import create_markdown_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import ArtifactCreate, GlobalConcurrencyLimitCreate
from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey
from prefect.concurrency.sync import concurrency
from prefect.context import FlowRunContext, TaskRunContext
from prefect.events import emit_event
from prefect.exceptions import ObjectAlreadyExists

from changeflow.domain.policy import ChangePlan
from changeflow.domain.record import Approval, ChangeRecord, StepRecord
from changeflow.domain.request import ChangeRequest
from changeflow.exceptions import RecordNotFound

_JSON_BLOCK = re.compile(r"```json\n(.*?)\n```", re.S)


def artifact_key(change_id: str) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only (measured): CHG-0042 → chg-0042."""
    return re.sub(r"[^a-z0-9-]", "-", change_id.lower())


def change_resource(change_id: str, **labels: str) -> dict[str, str]:
    return {"prefect.resource.id": f"changeflow.change.{change_id}", "prefect.resource.name": change_id, **labels}


class PrefectRecordStore:
    def __init__(self) -> None:
        # Transitions already sent as events, per change: each transition becomes exactly one event,
        # however many recorders (flow, subflow) save the same record in this process.
        self._emitted: dict[str, int] = {}
        self._lock = threading.Lock()

    def save(self, record: ChangeRecord) -> None:
        markdown = record_markdown(record, record.model_dump_json(indent=1))
        description = f"{record.id} ({record.type.value} {record.kind}) — {record.state.value}"
        if FlowRunContext.get() or TaskRunContext.get():  # linked to the run in the UI
            create_markdown_artifact(markdown=markdown, key=artifact_key(record.id), description=description)
        else:  # e.g. `changeflow review`: no run to link to
            with get_client(sync_client=True) as client:
                client.create_artifact(ArtifactCreate(key=artifact_key(record.id), type="markdown", data=markdown, description=description))
        with self._lock:
            start = self._emitted.get(record.id, 0)
            self._emitted[record.id] = max(start, len(record.transitions))
        labels = {"changeflow.model": record.model, "changeflow.type": record.type.value, "changeflow.kind": record.kind}
        for transition in record.transitions[start:]:
            emit_event(
                event=f"changeflow.change.{transition.to_state.value}",
                resource=change_resource(record.id, **labels),
                occurred=transition.at,
                payload={"from": transition.from_state.value if transition.from_state else None, "reason": transition.reason, "risk": record.risk.value},
            )

    def load(self, change_id: str) -> ChangeRecord:
        with get_client(sync_client=True) as client:
            found = client.read_latest_artifacts(
                artifact_filter=ArtifactCollectionFilter(key=ArtifactCollectionFilterKey(any_=[artifact_key(change_id)]))
            )
        if not found:
            raise RecordNotFound(f"no change record {change_id} on the Prefect server")
        record = _parse(found[0].data)
        with self._lock:
            self._emitted.setdefault(record.id, len(record.transitions))
        return record

    def list(self) -> list[ChangeRecord]:
        with get_client(sync_client=True) as client:
            found = client.read_latest_artifacts(
                artifact_filter=ArtifactCollectionFilter(key=ArtifactCollectionFilterKey(like_="chg-")), limit=200
            )
        records = [_parse(a.data) for a in found if isinstance(a.data, str) and _JSON_BLOCK.search(a.data)]
        return sorted(records, key=lambda r: r.id)


def _parse(markdown: str) -> ChangeRecord:
    match = _JSON_BLOCK.search(markdown or "")
    if match is None:
        raise RecordNotFound("artifact holds no changeflow record")
    return ChangeRecord.model_validate_json(match.group(1))


# --- one change per model ------------------------------------------------------------------------


def limit_name(model: str) -> str:
    return "changeflow-model-" + re.sub(r"[^a-z0-9-]", "-", model.lower())


class PrefectModelLocks:
    """A Prefect global concurrency limit of 1 per model, created before use."""

    def _ensure(self, name: str) -> None:
        with get_client(sync_client=True) as client:
            try:
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
            except ObjectAlreadyExists:
                pass

    @contextmanager
    def hold(self, model: str, timeout_s: float) -> Iterator[str]:
        """Hold the model's change slot; waits up to ``timeout_s`` for another change to finish."""
        name = limit_name(model)
        self._ensure(name)
        with concurrency(name, occupy=1, timeout_seconds=timeout_s, strict=True):
            yield name


def run_name(change_id: str, flow_name: str) -> str:
    """``CHG-0042-normal-change``: how a paused change is found."""
    return f"{change_id}-{flow_name}"


def overdue_notice(change_id: str, after_s: float, payload: dict) -> threading.Timer:
    """Emits ``changeflow.approval.overdue`` (for automations and notifications) after ``after_s``; cancel it when decided."""
    timer = threading.Timer(after_s, lambda: emit_event(event="changeflow.approval.overdue", resource=change_resource(change_id), payload=payload))
    timer.daemon = True
    timer.start()
    return timer


def flow_run_ended(flow_run_id: str) -> str | None:
    """How a flow run ended (``crashed``, ``failed``, …), or None while it has not."""
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(flow_run_id).state
    return state.type.value.lower() if state is not None and state.is_final() else None


# --- markdown for the Prefect UI --------------------------------------------------------------


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


def _decision(a: Approval) -> str:
    said = f"{a.approver} {a.decision}s ({_time(a.at)}){': ' + a.comment if a.comment else ''}"
    return said if a.counted else f"~~{said}~~ (refused, not counted: {a.refusal})"


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
        ("serving version", f"{record.serving_version_before or '—'} → {record.serving_version_after or '—'}"),
        ("outcome", record.outcome or "—"),
    ]
    lines = [f"## Change {record.id}", "", "| | |", "|---|---|"] + [f"| **{k}** | {_cell(v)} |" for k, v in rows] + [""]
    lines += _steps("Execution", record.execution_steps) + _steps("Verification", record.verification_steps) + _steps("Rollback", record.rollback_steps)
    lines += ["### Transitions", ""] + [f"- {_time(t.at)} **{t.to_state.value}** — {_cell(t.reason)}" for t in record.transitions] + [""]
    return "\n".join(lines + ["<details><summary>record (JSON)</summary>", "", "```json", as_json, "```", "", "</details>"])


def approval_summary(
    request: ChangeRequest, plan: ChangePlan, risk_reasons: list[str], approved_by: list[str], refusals: list[str], golden: tuple[str, str] | None = None
) -> str:
    """What the approver reads above the resume form: the change, its risk, plan and rollback."""
    lines = [
        f"## Approve change {request.id}?",
        f"**{request.type.value} {request.kind}** on `{request.model}`, requested by **{request.requester}**",
        "",
        f"> {request.description}",
        "",
        f"**Risk: {plan.risk.value}** — " + "; ".join(risk_reasons),
        "",
        f"**Approvals:** {len(approved_by)} of {plan.approvals_required} from the {plan.approval_pool.value.replace('_', ' ')}"
        + (f" (so far: {', '.join(approved_by)})" if approved_by else ""),
        "",
        "**Plan**",
        *[f"{i}. `{s.name}` — {s.action}" for i, s in enumerate(plan.execution_steps + plan.verification_steps, 1)],
        "",
        "**Rollback**",
        *[f"{i}. `{s.name}` — {s.action}" for i, s in enumerate(plan.rollback_steps, 1)],
        "",
        f"Rollback plan: {request.rollback_plan}",
    ]
    if golden:
        lines += ["", f"**Judged by** the golden set `{golden[0]}` (sha256 `{golden[1][:16]}`): a change to that file after approval stops the change."]
    if refusals:
        lines += ["", "**Not counted:** " + "; ".join(refusals)]
    return "\n".join(lines)

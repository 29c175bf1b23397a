"""Change records as Prefect artifacts (the system of record inside Prefect), plus one Prefect event
per lifecycle transition (``changeflow.change.<state>``, the change as the resource).

Each save adds a version to the artifact keyed by the change ID (``CHG-0042`` → ``chg-0042``): a
readable table for the UI with the full record as JSON below it, which ``load`` reads back.
"""

from __future__ import annotations

import re
import threading

from prefect.artifacts import create_markdown_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import ArtifactCreate
from prefect.context import FlowRunContext, TaskRunContext
from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey
from prefect.events import emit_event

from changeflow.domain.record import ChangeRecord
from changeflow.exceptions import RecordNotFound
from changeflow.render_markdown import record_markdown

_JSON_BLOCK = re.compile(r"```json\n(.*?)\n```", re.S)


def artifact_key(change_id: str) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only (measured): CHG-0042 → chg-0042."""
    return re.sub(r"[^a-z0-9-]", "-", change_id.lower())


def resource(record: ChangeRecord) -> dict[str, str]:
    return {
        "prefect.resource.id": f"changeflow.change.{record.id}",
        "prefect.resource.name": record.id,
        "changeflow.model": record.model,
        "changeflow.type": record.type.value,
        "changeflow.kind": record.kind.value,
    }


# Transitions already sent as events, per change, for this process: subflows open their own store on
# the same record, and each transition must become exactly one event.
_EMITTED: dict[str, int] = {}
_EMITTED_LOCK = threading.Lock()


class PrefectRecordStore:
    def save(self, record: ChangeRecord) -> None:
        markdown = record_markdown(record, record.model_dump_json(indent=1))
        description = f"{record.id} ({record.type.value} {record.kind.value}) — {record.state.value}"
        if FlowRunContext.get() or TaskRunContext.get():  # linked to the run in the UI
            create_markdown_artifact(markdown=markdown, key=artifact_key(record.id), description=description)
        else:  # e.g. `changeflow review`: no run to link to
            with get_client(sync_client=True) as client:
                client.create_artifact(ArtifactCreate(key=artifact_key(record.id), type="markdown", data=markdown, description=description))
        with _EMITTED_LOCK:
            start = _EMITTED.get(record.id, 0)
            _EMITTED[record.id] = max(start, len(record.transitions))
        for transition in record.transitions[start:]:
            emit_event(
                event=f"changeflow.change.{transition.to_state.value}",
                resource=resource(record),
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
        with _EMITTED_LOCK:
            _EMITTED.setdefault(record.id, len(record.transitions))
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

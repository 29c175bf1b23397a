"""Change records as Prefect shows them: a markdown artifact per change and an event per transition.

The record database is the system of record; this is the face. Each saved version updates the artifact
keyed by the change ID (``CHG-0042`` → ``chg-0042``: the page ``render.record_markdown`` writes, the full
record as JSON below it) and sends one ``changeflow.change.<state>`` event per new lifecycle transition, carrying the
version's chain digest. ``artifact_records`` reads the records earlier releases kept only as artifacts,
a page at a time, for ``changeflow records import``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import ArtifactCreate, ArtifactUpdate
from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey
from prefect.client.schemas.sorting import ArtifactCollectionSort
from prefect.context import FlowRunContext, TaskRunContext
from prefect.events import emit_event

from changeflow.domain.history import RecordVersion
from changeflow.domain.record import ChangeRecord

_JSON_BLOCK = re.compile(r"```json\n(.*?)\n```", re.S)
PAGE = 200  # the server's own cap per call (measured): read in pages of it, never once


def artifact_key(change_id: str) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only (measured): CHG-0042 → chg-0042."""
    return re.sub(r"[^a-z0-9-]", "-", change_id.lower())


def change_resource(change_id: str, **labels: str) -> dict[str, str]:
    return {"prefect.resource.id": f"changeflow.change.{change_id}", "prefect.resource.name": change_id, **labels}


class PrefectRecordPublisher:
    """One artifact per change and top-level run, kept at the record's latest version: the first save in a
    run creates it, linked to the run the engineer started (not to a kind's subflow), later saves update
    it in place, so the run shows one card and the key's page one entry per run. Outside a run (e.g.
    ``changeflow review``) a save adds a version under the key, linked to no run."""

    def __init__(self, render: Callable[[ChangeRecord, str], str]) -> None:
        """``render(record, as_json)``: the record's page (``render.record_markdown``, given by the root)."""
        self.render = render
        self._roots: dict[UUID, UUID] = {}

    def publish(self, record: ChangeRecord, version: RecordVersion) -> None:
        markdown = self.render(record, record.model_dump_json(indent=1))
        description = (
            f"{record.id} ({record.type.value} {record.kind}): {record.state.value} (version {version.version})"
        )
        key = artifact_key(record.id)
        with get_client(sync_client=True) as client:
            run_id = self._root_run(client)
            latest = client.read_latest_artifacts(
                artifact_filter=ArtifactCollectionFilter(key=ArtifactCollectionFilterKey(any_=[key])), limit=1
            )
            if run_id is not None and latest and latest[0].flow_run_id == run_id:
                client.update_artifact(latest[0].latest_id, ArtifactUpdate(data=markdown, description=description))
            else:
                client.create_artifact(
                    ArtifactCreate(key=key, type="markdown", data=markdown, description=description, flow_run_id=run_id)
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

    def _root_run(self, client) -> UUID | None:
        """The top-level flow run of the current run or task: a kind's flow runs as a subflow."""
        flow_context, task_context = FlowRunContext.get(), TaskRunContext.get()
        if flow_context is not None and flow_context.flow_run is not None:
            current = flow_context.flow_run.id
        elif task_context is not None:
            current = task_context.task_run.flow_run_id
        else:
            return None
        if current not in self._roots:
            run = client.read_flow_run(current)
            while run.parent_task_run_id is not None:
                run = client.read_flow_run(client.read_task_run(run.parent_task_run_id).flow_run_id)
            self._roots[current] = run.id
        return self._roots[current]


def artifact_records() -> Iterator[ChangeRecord]:
    """Every change record kept as an artifact on the Prefect server (latest version of each), paged."""
    import changeflow.kinds  # noqa: F401 (binds the kinds' specs into the records' requests)

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

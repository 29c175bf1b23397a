"""Drift as the records tell it: the approved state of each target (the latest snapshot a record kept in
its ``approved_state`` attachment) and the unauthorized changes still open. Apart from ``domain.drift``
because a record holds a ``Drift``: drift sits below the record, and this reading above both. Pure.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from changeflow.domain.drift import APPROVED_STATE, Approved, OpenDrift, Snapshot
from changeflow.domain.record import ChangeRecord


def snapshots_of(record: ChangeRecord) -> list[Snapshot]:
    text = record.attachments.get(APPROVED_STATE)
    return [Snapshot.model_validate(item) for item in json.loads(text)] if text else []


def approved_states(records: Iterable[ChangeRecord]) -> dict[str, Approved]:
    """Per target key, the latest snapshot a record approved (ties: the later record ID)."""
    latest: dict[str, Approved] = {}
    for record in records:
        for snapshot in snapshots_of(record):
            held = latest.get(snapshot.target.key)
            if held is None or (snapshot.seen_at, record.id) > (held.snapshot.seen_at, held.record_id):
                latest[snapshot.target.key] = Approved(snapshot=snapshot, record_id=record.id)
    return latest


def open_drifts(records: Iterable[ChangeRecord]) -> dict[str, OpenDrift]:
    """Per target key, the latest unauthorized record still open (``detected``)."""
    found: dict[str, OpenDrift] = {}
    for record in records:
        if record.drift is not None and not record.is_terminal:
            key = record.drift.target.key
            held = found.get(key)
            if held is None or record.drift.seen.seen_at > held.drift.seen.seen_at:
                found[key] = OpenDrift(record_id=record.id, drift=record.drift)
    return found

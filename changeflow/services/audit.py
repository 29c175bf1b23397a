"""What an auditor runs over the record database: every record's version chain walked, the current record
compared with the chain's head, and an export of every version for safekeeping elsewhere."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TextIO

from pydantic import BaseModel

from changeflow.domain.history import ChainBreak, RecordQuery, verify_chain
from changeflow.domain.record import ChangeRecord
from changeflow.exceptions import RecordNotFound, RecordTampered
from changeflow.ports import RecordStore
from changeflow.services.records import every


class AuditReport(BaseModel):
    records: int = 0
    versions: int = 0
    breaks: list[ChainBreak] = []


def audit_record(store: RecordStore, change_id: str) -> tuple[int, ChainBreak | None]:
    """(versions walked, the first broken link or None). The current record must equal the chain's head:
    a current row rewritten without a new version is a break too."""
    versions = store.history(change_id)
    if not versions:
        raise RecordNotFound(f"no change record {change_id}")
    broken = verify_chain(versions)
    if broken is None:
        try:
            current = store.load(change_id)
        except RecordNotFound:
            current = None
        if current is None or current != versions[-1].record():
            broken = ChainBreak(change_id=change_id, version=versions[-1].version, reason="the current record is not the chain's last version (rewritten in place)")
    return len(versions), broken


def trusted(store: RecordStore, change_id: str) -> ChangeRecord:
    """The record, only when its chain verifies and the current row is its head; otherwise
    ``RecordTampered``: what an executor reads before it acts."""
    _, broken = audit_record(store, change_id)
    if broken is not None:
        raise RecordTampered(f"{change_id}: version {broken.version}: {broken.reason}; no executor acts on it (see `changeflow audit verify {change_id}`)")
    return store.load(change_id)


def audit(store: RecordStore, change_ids: list[str] | None = None, published: dict[str, ChangeRecord] | None = None) -> AuditReport:
    """Walk the chains; with ``published`` (the records as Prefect shows them), also name a published
    record that is not the chain's head: one rewritten through the Prefect API."""
    report = AuditReport()
    for change_id in change_ids if change_ids is not None else (r.id for r in every(store, RecordQuery())):
        walked, broken = audit_record(store, change_id)
        if broken is None and published is not None and change_id in published and published[change_id] != store.load(change_id):
            broken = ChainBreak(change_id=change_id, version=walked, reason="the record Prefect shows is not the chain's last version (rewritten through the Prefect API)")
        report.records += 1
        report.versions += walked
        if broken is not None:
            report.breaks.append(broken)
    return report


def export_lines(store: RecordStore) -> Iterator[str]:
    """Every version of every record as a JSON line, then one line with each chain's head."""
    heads = {}
    for record in every(store, RecordQuery()):
        for version in store.history(record.id):
            yield version.model_dump_json(exclude={"transitions_before"})
            heads[record.id] = {"version": version.version, "sha256": version.sha256}
    yield json.dumps({"heads": heads})


def export(store: RecordStore, out: TextIO) -> int:
    lines = 0
    for line in export_lines(store):
        out.write(line + "\n")
        lines += 1
    return lines

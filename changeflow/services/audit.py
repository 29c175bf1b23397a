"""What an auditor runs over the record database, and what every executor checks before it acts: each
record's version chain walked, each version's executor signature verified, the current record compared
with the chain's head, the one sequence of versions checked for gaps (a deleted record), and the heads
compared with a signed checkpoint kept outside the database (a truncated chain: ``services.checkpoints``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from pydantic import BaseModel

import changeflow.kinds  # noqa: F401 (binds the kinds' specs into the records' requests it parses)
from changeflow.domain.history import (
    ChainBreak,
    RecordQuery,
    RecordVersion,
    sequence_gaps,
    verify_chain,
    version_message,
)
from changeflow.domain.record import ChangeRecord
from changeflow.exceptions import RecordNotFound, RecordTampered
from changeflow.ports import RecordStore
from changeflow.services.checkpoints import (
    Checkpoint,
    Kept,
    chain_heads,
    checkpoint_breaks,
    held_back,
    history_or_none,
    keep_checkpoint,
    read_checkpoint,
)
from changeflow.services.records import every
from changeflow.signing import key_id, verify

__all__ = [
    "AuditReport",
    "Checkpoint",
    "VersionSeals",
    "audit",
    "audit_record",
    "checkpoint_breaks",
    "executor_seals",
    "export",
    "export_lines",
    "keep_executor_checkpoint",
    "read_checkpoint",
    "seals_for",
    "trusted",
]


class VersionSeals:
    """The executors whose signatures make a version genuine (public keys from the governance bundle)."""

    def __init__(self, executor_keys: dict[str, str]) -> None:
        self.keys = {key_id(public): (name, public) for name, public in executor_keys.items()}

    def problem(self, version: RecordVersion) -> str | None:
        if not version.signature:
            return "it is not signed by an executor (written without the executor's key)"
        if version.signer not in self.keys:
            return f"it is signed by key {version.signer or '?'}, which is no executor of the governance bundle"
        if not verify(self.keys[version.signer][1], version_message(version.seq, version.sha256), version.signature):
            return "its executor signature does not verify (forged or rewritten)"
        return None


def seals_for(executor_keys: dict[str, str], required: bool, local_public: str | None = None) -> VersionSeals | None:
    """The seals an executor checks: the bundle's executor keys (and, in a trial without pinned governance,
    this process's own key). None only in a trial with no key at all: chains are then checked unsigned."""
    keys = dict(executor_keys)
    if not required and local_public:
        keys.setdefault("this executor", local_public)
    return VersionSeals(keys) if keys or required else None


def executor_seals(governance=None) -> VersionSeals | None:
    """The seals for ``governance`` (default: this executor's own bundle): required when the executor
    pins governance keys (then only the bundle's executor keys count)."""
    from changeflow.settings.defaults import executor_key, governance_or_default

    governance = governance_or_default(governance)
    local = executor_key()
    required = governance.bundle is not None and governance.bundle.pinned
    return seals_for(governance.executor_keys, required, local.public if local is not None else None)


def keep_executor_checkpoint(store: RecordStore, governance=None, publish=None) -> Kept | None:
    """This executor's signed checkpoint of ``store``, kept in its checkpoint folder and announced with
    ``publish`` (``services.checkpoints.keep_checkpoint``); None when it holds no executor key or folder."""
    from changeflow.settings.defaults import checkpoints_dir, executor_key

    signer, folder = executor_key(), checkpoints_dir()
    if signer is None or folder is None:
        return None
    return keep_checkpoint(store, signer, executor_seals(governance), folder, publish)


class AuditReport(BaseModel):
    records: int = 0
    versions: int = 0
    signatures_checked: bool = False
    breaks: list[ChainBreak] = []


def audit_record(
    store: RecordStore, change_id: str, seals: VersionSeals | None = None
) -> tuple[list[RecordVersion], ChainBreak | None]:
    """(the versions walked, the first broken link or None). The current record must equal the chain's
    head: a current row rewritten without a new version is a break too."""
    versions = store.history(change_id)
    if not versions:
        raise RecordNotFound(f"no change record {change_id}")
    broken = verify_chain(versions, seals.problem if seals is not None else None)
    if broken is None:
        try:
            current = store.load(change_id)
        except RecordNotFound:
            current = None
        if current is None or current != versions[-1].record():
            broken = ChainBreak(
                change_id=change_id,
                version=versions[-1].version,
                reason="the current record is not the chain's last version (rewritten in place)",
            )
    return versions, broken


def trusted(
    store: RecordStore, change_id: str, seals: VersionSeals | None = None, checkpoints: Path | None = None
) -> ChangeRecord:
    """The record, only when its chain (and, with ``seals``, every signature) verifies, the current row
    is its head and nothing was cut since the newest signed checkpoint in ``checkpoints`` (default: this
    executor's checkpoint folder); otherwise ``RecordTampered``: what an executor reads before it acts."""
    versions, broken = audit_record(store, change_id, seals)
    if broken is not None:
        raise RecordTampered(
            f"{change_id}: version {broken.version}: {broken.reason}; no executor acts on it (see `changeflow audit verify {change_id}`)"
        )
    if (problem := held_back(store, change_id, versions, seals, checkpoints)) is not None:
        raise RecordTampered(f"{change_id}: {problem}; no executor acts on it (see `changeflow audit verify --all`)")
    return store.load(change_id)


def audit(
    store: RecordStore,
    change_ids: list[str] | None = None,
    published: dict[str, ChangeRecord] | None = None,
    seals: VersionSeals | None = None,
    checkpoint: Checkpoint | None = None,
) -> AuditReport:
    """Walk the chains; with ``published`` (the records as Prefect shows them), also name a published
    record that is not the chain's head: one rewritten through the Prefect API. Over every record (no
    ``change_ids``), a gap in the sequence of versions is a deleted record or version."""
    report = AuditReport(signatures_checked=seals is not None)
    walked: dict[str, list[RecordVersion]] = {}
    for change_id in change_ids if change_ids is not None else (r.id for r in every(store, RecordQuery())):
        versions, broken = audit_record(store, change_id, seals)
        walked[change_id] = versions
        if (
            broken is None
            and published is not None
            and change_id in published
            and published[change_id] != store.load(change_id)
        ):
            broken = ChainBreak(
                change_id=change_id,
                version=len(versions),
                reason="the record Prefect shows is not the chain's last version (rewritten through the Prefect API)",
            )
        report.records += 1
        report.versions += len(versions)
        if broken is not None:
            report.breaks.append(broken)
    if change_ids is None:
        seqs = [v.seq for versions in walked.values() for v in versions if v.seq is not None]
        for low, high in sequence_gaps(seqs):
            report.breaks.append(
                ChainBreak(
                    change_id="(sequence)",
                    version=low,
                    reason=f"versions {low}..{high} of the global sequence are missing (a deleted record or version)",
                )
            )
    if checkpoint is not None:
        as_seen = frozenset()
        if change_ids is not None:  # the other records too, but only those whose head moved are read
            as_seen = frozenset(
                h.change_id for h in chain_heads(store) if checkpoint.heads.get(h.change_id) == (h.version, h.sha256)
            )
            walked = {i: history_or_none(store, i) for i in checkpoint.heads if i not in as_seen}
        report.breaks += checkpoint_breaks(checkpoint, walked, store.max_seq(), as_seen)
    return report


def export_lines(store: RecordStore, signer=None) -> Iterator[str]:
    """Every version of every record as a JSON line, then one line with each chain's head: a checkpoint,
    signed when this process holds an executor key (``signer``)."""
    checkpoint = Checkpoint(store=store.identity, written_at=datetime.now(timezone.utc).isoformat())
    for record in every(store, RecordQuery()):
        for version in store.history(record.id):
            yield version.model_dump_json(exclude={"transitions_before"})
            checkpoint.heads[record.id] = (version.version, version.sha256)
            checkpoint.seq = max(checkpoint.seq, version.seq or 0)
    if signer is not None:
        checkpoint.sign(signer)
    yield checkpoint.line()


def export(store: RecordStore, out: TextIO, signer=None) -> int:
    lines = 0
    for line in export_lines(store, signer):
        out.write(line + "\n")
        lines += 1
    return lines

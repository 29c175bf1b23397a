"""What an auditor runs over the record database, and what every executor checks before it acts: each
record's version chain walked, each version's executor signature verified, the current record compared
with the chain's head, the one sequence of versions checked for gaps (a deleted record), and the heads
compared with a signed checkpoint kept outside the database (a truncated chain)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TextIO

from pydantic import BaseModel

from changeflow.domain.history import ChainBreak, RecordQuery, RecordVersion, sequence_gaps, verify_chain, version_message
from changeflow.domain.record import ChangeRecord
from changeflow.exceptions import RecordNotFound, RecordTampered
from changeflow.ports import RecordStore
from changeflow.services.records import every
from changeflow.signing import key_id, verify


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


class AuditReport(BaseModel):
    records: int = 0
    versions: int = 0
    signatures_checked: bool = False
    breaks: list[ChainBreak] = []


def audit_record(store: RecordStore, change_id: str, seals: VersionSeals | None = None) -> tuple[list[RecordVersion], ChainBreak | None]:
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
            broken = ChainBreak(change_id=change_id, version=versions[-1].version, reason="the current record is not the chain's last version (rewritten in place)")
    return versions, broken


def trusted(store: RecordStore, change_id: str, seals: VersionSeals | None = None) -> ChangeRecord:
    """The record, only when its chain (and, with ``seals``, every signature) verifies and the current row
    is its head; otherwise ``RecordTampered``: what an executor reads before it acts."""
    _, broken = audit_record(store, change_id, seals)
    if broken is not None:
        raise RecordTampered(f"{change_id}: version {broken.version}: {broken.reason}; no executor acts on it (see `changeflow audit verify {change_id}`)")
    return store.load(change_id)


class Checkpoint(BaseModel):
    """Every chain's head and the highest sequence number at one moment, signed by an executor and kept
    outside the database (``audit export``): a later chain shorter than its head here was truncated, a
    record missing here was deleted."""

    seq: int = 0
    heads: dict[str, tuple[int, str]] = {}
    signer: str = ""
    signature: str = ""

    def message(self) -> bytes:
        return ("changeflow-checkpoint-v1\n" + json.dumps({"seq": self.seq, "heads": self.heads}, sort_keys=True, separators=(",", ":"))).encode()


def checkpoint_breaks(checkpoint: Checkpoint, walked: dict[str, list[RecordVersion]]) -> list[ChainBreak]:
    breaks = []
    for change_id, (version, sha256) in sorted(checkpoint.heads.items()):
        versions = walked.get(change_id)
        if not versions:
            breaks.append(ChainBreak(change_id=change_id, version=version, reason="the checkpoint has this record; the database does not (deleted)"))
        elif len(versions) < version:
            breaks.append(ChainBreak(change_id=change_id, version=len(versions), reason=f"the checkpoint has version {version}; the chain ends at {len(versions)} (truncated)"))
        elif versions[version - 1].sha256 != sha256:
            breaks.append(ChainBreak(change_id=change_id, version=version, reason="this version is not the one the checkpoint saw (rewritten)"))
    return breaks


def audit(store: RecordStore, change_ids: list[str] | None = None, published: dict[str, ChangeRecord] | None = None,
          seals: VersionSeals | None = None, checkpoint: Checkpoint | None = None) -> AuditReport:
    """Walk the chains; with ``published`` (the records as Prefect shows them), also name a published
    record that is not the chain's head: one rewritten through the Prefect API. Over every record (no
    ``change_ids``), a gap in the sequence of versions is a deleted record or version."""
    report = AuditReport(signatures_checked=seals is not None)
    walked: dict[str, list[RecordVersion]] = {}
    for change_id in change_ids if change_ids is not None else (r.id for r in every(store, RecordQuery())):
        versions, broken = audit_record(store, change_id, seals)
        walked[change_id] = versions
        if broken is None and published is not None and change_id in published and published[change_id] != store.load(change_id):
            broken = ChainBreak(change_id=change_id, version=len(versions), reason="the record Prefect shows is not the chain's last version (rewritten through the Prefect API)")
        report.records += 1
        report.versions += len(versions)
        if broken is not None:
            report.breaks.append(broken)
    if change_ids is None:
        seqs = [v.seq for versions in walked.values() for v in versions if v.seq is not None]
        for low, high in sequence_gaps(seqs):
            report.breaks.append(ChainBreak(change_id="(sequence)", version=low, reason=f"versions {low}..{high} of the global sequence are missing (a deleted record or version)"))
    if checkpoint is not None:
        report.breaks += checkpoint_breaks(checkpoint, walked if change_ids is None else {i: _history_or_none(store, i) for i in checkpoint.heads})
    return report


def _history_or_none(store: RecordStore, change_id: str) -> list[RecordVersion]:
    """A record's versions, or none when the database has no such record (deleted)."""
    try:
        return store.history(change_id)
    except RecordNotFound:
        return []


def export_lines(store: RecordStore, signer=None) -> Iterator[str]:
    """Every version of every record as a JSON line, then one line with each chain's head: a checkpoint,
    signed when this process holds an executor key (``signer``)."""
    checkpoint = Checkpoint()
    for record in every(store, RecordQuery()):
        for version in store.history(record.id):
            yield version.model_dump_json(exclude={"transitions_before"})
            checkpoint.heads[record.id] = (version.version, version.sha256)
            checkpoint.seq = max(checkpoint.seq, version.seq or 0)
    if signer is not None:
        checkpoint.signer, checkpoint.signature = signer.key_id, signer.sign(checkpoint.message())
    yield json.dumps({"heads": {k: {"version": v, "sha256": d} for k, (v, d) in checkpoint.heads.items()}, "checkpoint": checkpoint.model_dump(mode="json")})


def read_checkpoint(text: str, seals: VersionSeals | None) -> Checkpoint:
    """The checkpoint on the last line of an ``audit export``; its signature checked when ``seals`` are known."""
    from changeflow.exceptions import InvalidSettings

    try:
        checkpoint = Checkpoint.model_validate(json.loads(text.strip().splitlines()[-1])["checkpoint"])
    except (ValueError, KeyError, IndexError, TypeError):
        raise InvalidSettings("--checkpoint", "(file)", "has no checkpoint on its last line", "pass a file written by `changeflow audit export`") from None
    if seals is not None:
        name_key = seals.keys.get(checkpoint.signer)
        if name_key is None or not verify(name_key[1], checkpoint.message(), checkpoint.signature):
            raise InvalidSettings("--checkpoint", "signature", "is not a valid executor signature", "use an export written by a worker holding an executor key")
    return checkpoint


def export(store: RecordStore, out: TextIO, signer=None) -> int:
    lines = 0
    for line in export_lines(store, signer):
        out.write(line + "\n")
        lines += 1
    return lines

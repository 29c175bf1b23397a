"""What the record store answers with: queries over change records, pages of them, and the append-only
versions of one record, each chained to the one before by SHA-256.

Pure: the record store adapters translate a ``RecordQuery`` into their own language (SQL, a filter in
memory); readers page through with ``next_after`` until it is None, so no reader ever sees a silently
cut list. The chain is what makes a rewritten version visible: each version's digest covers its
content and the digest of the version before it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from changeflow.domain.dora import ChangeFacts
from changeflow.domain.record import GOVERNED_TYPES, TERMINAL, ChangeRecord, RecordType, State
from changeflow.domain.request import Risk

PAGE_SIZE = 500
GENESIS = "0" * 64


class RecordQuery(BaseModel):
    """Which records to read; every field narrows. Time fields compare with the record's first
    transition (``opened_*``), its latest save (``updated_since``) or its slot (``slot_*``)."""

    model_config = ConfigDict(frozen=True)
    model: str | None = None
    states: frozenset[State] | None = None
    types: frozenset[RecordType] | None = None
    opened_from: datetime | None = None
    opened_until: datetime | None = None
    updated_since: datetime | None = None
    slot_from: datetime | None = None
    slot_until: datetime | None = None
    after: str | None = Field(None, description="page cursor: records with an ID after this one")
    limit: int = Field(PAGE_SIZE, ge=1, le=5_000)

    def next_page(self, after: str) -> RecordQuery:
        return self.model_copy(update={"after": after})

    def matches(self, record: ChangeRecord, saved_at: datetime) -> bool:
        """What a store's query means, for one record last saved at ``saved_at`` (the cursor aside)."""
        opened = record.transitions[0].at if record.transitions else saved_at
        slot = record.slot_start
        return (
            (self.model is None or record.model == self.model)
            and (self.states is None or record.state in self.states)
            and (self.types is None or record.type in self.types)
            and (self.opened_from is None or opened >= self.opened_from)
            and (self.opened_until is None or opened < self.opened_until)
            and (self.updated_since is None or saved_at >= self.updated_since)
            and (self.slot_from is None or (slot is not None and slot >= self.slot_from))
            and (self.slot_until is None or (slot is not None and slot < self.slot_until))
        )


FAILED = frozenset({State.ROLLED_BACK, State.ABORTED})
RISK_LOOKBACK = timedelta(days=30)
OPEN = frozenset(State) - TERMINAL


def open_changes(model: str) -> RecordQuery:
    """Changes to ``model`` not yet ended: the ones a new request's window may collide with."""
    return RecordQuery(model=model, states=OPEN, types=GOVERNED_TYPES)


def recent_failures(model: str, now: datetime) -> RecordQuery:
    """Changes to ``model`` that failed within the risk look-back: each raises the next one's risk."""
    return RecordQuery(model=model, states=FAILED, types=GOVERNED_TYPES, updated_since=now - RISK_LOOKBACK)


class RecordPage(BaseModel):
    records: list[ChangeRecord]
    next_after: str | None = Field(None, description="pass as ``after`` for the next page; None: this was the last")


class _Moment(BaseModel):
    model_config = ConfigDict(extra="ignore")

    at: datetime


class RecordLine(BaseModel):
    """One change as a list shows it, parsed from the stored record's document as ``changeflow record``
    shows it (not from the index columns beside it), without the rest: a list of thousands parses only
    this, and needs none of the kinds that a whole record's request does. It checks nothing: ``changeflow
    audit verify`` holds the document to its signed versions."""

    model_config = ConfigDict(extra="ignore")

    id: str
    type: RecordType
    kind: str
    model: str
    risk: Risk
    state: State
    outcome: str = ""
    transitions: list[_Moment] = Field(default_factory=list)

    @property
    def opened_at(self) -> datetime | None:
        return self.transitions[0].at if self.transitions else None

    @classmethod
    def of(cls, record: ChangeRecord) -> RecordLine:
        return cls.model_validate(record.model_dump(include=set(cls.model_fields)))


class NewestPage(BaseModel):
    """A page of changes, newest first (by when each was opened), and how many match in all."""

    records: list[RecordLine]
    total: int = Field(ge=0)


class FactsPage(BaseModel):
    facts: list[ChangeFacts]
    next_after: str | None = None


class RecordVersion(BaseModel):
    """One save of one record: who wrote it, when, and its place in the record's chain."""

    change_id: str
    version: int = Field(ge=1)
    saved_at: datetime
    writer: str
    state: State
    previous_sha256: str
    sha256: str
    content: str = Field(repr=False, description="the record as saved (JSON)")
    transitions_before: int = Field(0, description="transitions the previous version had: the ones after are new")
    seq: int | None = Field(
        None, description="its place in the one sequence of versions across all records (None: saved before sequencing)"
    )
    signer: str = Field("", description="key ID of the executor key that signed it; empty: unsigned")
    signature: str = Field("", description="Ed25519 signature over version_message(seq, sha256)")

    def record(self) -> ChangeRecord:
        return ChangeRecord.model_validate_json(self.content)


class ChainHead(NamedTuple):
    """Where one record's chain ends: what a checkpoint keeps of it (``seq`` None: saved before sequencing)."""

    change_id: str
    version: int
    sha256: str
    seq: int | None


def version_message(seq: int | None, sha256: str) -> bytes:
    """What an executor signs for one version: its global sequence number and its chained digest (which
    covers the record, its version number, its writer and every version before it)."""
    return f"changeflow-record-version-v1\n{seq}\n{sha256}".encode()


def link_digest(previous_sha256: str, change_id: str, version: int, writer: str, content: str) -> str:
    """The digest of one version: its place, its writer and its content, after the previous digest."""
    digest = hashlib.sha256()
    for part in (previous_sha256, change_id, str(version), writer, content):
        encoded = part.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "big"))
        digest.update(encoded)
    return digest.hexdigest()


class ChainBreak(BaseModel):
    change_id: str
    version: int
    reason: str


def verify_chain(
    versions: list[RecordVersion], seal_problem: Callable[[RecordVersion], str | None] | None = None
) -> ChainBreak | None:
    """The first broken link of one record's versions (in order), or None when the chain holds.
    ``seal_problem(version)``: why a version's signature does not hold (None: it does); when given,
    every version must be signed by a known executor, so a writer without the key cannot forge one."""
    previous, previous_seq = GENESIS, 0
    for expected, version in enumerate(versions, 1):
        where = {"change_id": version.change_id, "version": version.version}
        if version.version != expected:
            return ChainBreak(**where, reason=f"version {expected} is missing (found {version.version})")
        if version.previous_sha256 != previous:
            return ChainBreak(**where, reason="its previous digest does not match the version before it")
        if link_digest(previous, version.change_id, version.version, version.writer, version.content) != version.sha256:
            return ChainBreak(**where, reason="its content does not match its digest (rewritten)")
        if version.seq is not None:
            if version.seq <= previous_seq:
                return ChainBreak(
                    **where,
                    reason=f"its sequence number {version.seq} is not after the version before it ({previous_seq})",
                )
            previous_seq = version.seq
        if seal_problem is not None and (problem := seal_problem(version)) is not None:
            return ChainBreak(**where, reason=problem)
        previous = version.sha256
    return None


def sequence_gaps(seqs: list[int]) -> list[tuple[int, int]]:
    """The runs of sequence numbers missing below the highest one: versions deleted from the database."""
    gaps, expected = [], 1
    for seq in sorted(seqs):
        if seq > expected:
            gaps.append((expected, seq - 1))
        expected = seq + 1
    return gaps


def execution_span(record: ChangeRecord) -> tuple[datetime, datetime] | None:
    """From the first execution step's start to the last step's end (rollback included): when the change
    held its model. None when it never executed."""
    steps = record.execution_steps + record.verification_steps + record.rollback_steps
    if not record.execution_steps:
        return None
    ends = [s.ended_at or s.started_at for s in steps]
    return min(s.started_at for s in record.execution_steps), max(ends)


def same_model_overlaps(records: list[ChangeRecord]) -> list[tuple[str, str]]:
    """Pairs of changes to one model whose execution spans overlap: what the per-model lock forbids."""
    spans: dict[str, list[tuple[datetime, datetime, str]]] = {}
    for record in records:
        if (span := execution_span(record)) is not None:
            spans.setdefault(record.model, []).append((*span, record.id))
    pairs = []
    for model_spans in spans.values():
        model_spans.sort()
        for (_, end, first), (start, _, second) in zip(model_spans, model_spans[1:]):
            if start < end:
                pairs.append((first, second))
    return pairs

"""Drift: what production serves against what the records approved, and what to do about a difference.

Production's state is a set of *targets* (a model on a Triton server, a Kubernetes Deployment, a Service),
each observed as a ``Snapshot`` of plain facts (READY versions, the served config's digest, a container's
image and args, a selector). The *approved* snapshot of a target is the latest one kept on a record: a
governed change captures it as it closes, a reverted unauthorized change as it is verified, and the first
check of a target nobody recorded adopts what it finds as a *baseline*.

``assess`` decides, for one target, what a check does: nothing (production is as approved, or the drift
is already on record), open a baseline, open an unauthorized record, or close one because production is
back as approved. One record per drift, not one per check. Pure: no I/O, no clock. What the records say
(the approved state of each target, the drifts still open) is read by ``domain.drift_records``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

APPROVED_STATE = "approved_state"  # record attachment: the JSON list of snapshots production was left in
TargetKind = Literal["triton_model", "deployment", "service"]


class Target(BaseModel):
    """One thing on production whose state is approved: ``where`` is a server name or a namespace."""

    model_config = ConfigDict(frozen=True)
    kind: TargetKind
    where: str
    name: str
    model: str = Field(description="the model whose serving it carries (records are filed by model)")

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.where}/{self.name}"

    def __str__(self) -> str:
        label = {"triton_model": "model", "deployment": "deployment", "service": "service"}[self.kind]
        return f"{label} {self.name} on {self.where}"


class Snapshot(BaseModel):
    """The compared ``facts`` of a target as seen at ``seen_at``; ``keep`` holds what a revert needs but
    a comparison must not (the exact config file, the served config in full)."""

    target: Target
    facts: dict[str, str]
    seen_at: datetime
    keep: dict[str, str] = Field(default_factory=dict)

    def same_as(self, other: Snapshot | None) -> bool:
        return other is not None and self.facts == other.facts


class FactChange(BaseModel):
    fact: str
    approved: str | None
    seen: str | None

    def __str__(self) -> str:
        return f"{self.fact}: {self.approved if self.approved is not None else '(none)'} → {self.seen if self.seen is not None else '(none)'}"


class Drift(BaseModel):
    """An unauthorized change: the approved snapshot (and the record that approved it), what was seen,
    and each fact that differs; ``details`` adds what the facts summarise (e.g. config fields)."""

    target: Target
    approved: Snapshot
    approved_by: str
    seen: Snapshot
    changes: list[FactChange]
    details: list[str] = Field(default_factory=list)

    def summary(self) -> str:
        return f"{self.target}: " + "; ".join(str(c) for c in self.changes)


def compare(approved: Snapshot, seen: Snapshot) -> list[FactChange]:
    """Every fact whose value differs, in a stable order."""
    names = sorted(set(approved.facts) | set(seen.facts))
    return [
        FactChange(fact=n, approved=approved.facts.get(n), seen=seen.facts.get(n))
        for n in names
        if approved.facts.get(n) != seen.facts.get(n)
    ]


class DriftAction(StrEnum):
    RECORD = "record"  # open an unauthorized change record and tell people
    REVERT = "revert"  # also restore the approved state as a pre-authorized rollback, and verify it


class DriftPolicy(BaseModel):
    """``drift.yaml`` in the governance folder: what a drift does, per model (default: record)."""

    model_config = ConfigDict(extra="forbid")
    default: DriftAction = DriftAction.RECORD
    models: dict[str, DriftAction] = Field(default_factory=dict, description="model name -> record | revert")

    def action_for(self, model: str) -> DriftAction:
        return self.models.get(model, self.default)


class Step(StrEnum):
    """What a check does for one target."""

    IN_LINE = "in_line"  # production is as approved
    ADOPT_BASELINE = "adopt_baseline"  # first sight of a target nobody recorded
    ALREADY_RECORDED = "already_recorded"  # the drift seen is the one an open record holds
    RECORD_DRIFT = "record_drift"  # a new drift: open an unauthorized record
    BACK_IN_LINE = "back_in_line"  # production is as approved again: close the open record


class Assessment(BaseModel):
    step: Step
    reason: str
    drift: Drift | None = None


class Approved(BaseModel):
    """A target's approved snapshot and the record that holds it."""

    snapshot: Snapshot
    record_id: str


class OpenDrift(BaseModel):
    """An unauthorized record not settled yet, and the drift it holds."""

    record_id: str
    drift: Drift


def assess(
    seen: Snapshot, approved: Approved | None, open_drift: OpenDrift | None, details: list[str] = ()
) -> Assessment:
    """What one check does for one target (see ``Step``)."""
    if approved is None:
        return Assessment(
            step=Step.ADOPT_BASELINE,
            reason=f"{seen.target}: no record approves a state yet; adopted what serves as the baseline",
        )
    if seen.same_as(approved.snapshot):
        if open_drift is not None:
            return Assessment(
                step=Step.BACK_IN_LINE, reason=f"{seen.target} is back on the state {approved.record_id} approved"
            )
        return Assessment(step=Step.IN_LINE, reason=f"{seen.target} is as {approved.record_id} approved")
    if open_drift is not None and seen.same_as(open_drift.drift.seen):
        return Assessment(
            step=Step.ALREADY_RECORDED, reason=f"{seen.target}: the drift is on record as {open_drift.record_id}"
        )
    drift = Drift(
        target=seen.target,
        approved=approved.snapshot,
        approved_by=approved.record_id,
        seen=seen,
        changes=compare(approved.snapshot, seen),
        details=list(details),
    )
    return Assessment(step=Step.RECORD_DRIFT, reason=drift.summary(), drift=drift)


def snapshots_text(snapshots: Iterable[Snapshot]) -> str:
    """The ``approved_state`` attachment: a JSON list, stable across saves."""
    return json.dumps([s.model_dump(mode="json") for s in snapshots], sort_keys=True)

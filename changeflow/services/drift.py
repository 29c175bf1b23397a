"""The drift check: live state against approved state, target by target, under the model's lock.

- ``capture_approved``: what a governed change leaves on its record as it closes (the approved state of
  each target it touched), settling any unauthorized record it takes over on the same target.
- ``check``: every target production has (each Triton model READY there) or a record names; a model
  with a change in flight (an executing record, or its lock held) is skipped, so a governed change is
  never reported as drift. Each target's step is ``domain.drift.assess``'s; a ``revert`` policy restores
  the approved state at once, as a pre-authorized rollback (it restores what was approved), verified and
  recorded on the unauthorized record.

No Prefect here: the flow (``flows/drift.py``) passes in how to announce and how to lock.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, Field

from changeflow.domain.drift import (
    APPROVED_STATE,
    Approved,
    DriftAction,
    DriftPolicy,
    OpenDrift,
    Snapshot,
    Step,
    Target,
    assess,
    compare,
    snapshots_text,
)
from changeflow.domain.drift_records import approved_states, open_drifts, snapshots_of
from changeflow.domain.history import RecordQuery
from changeflow.domain.record import PRODUCTION_AT_RISK, ChangeRecord, Phase, State
from changeflow.domain.request import VERIFY_RESTORED
from changeflow.exceptions import ChangeflowError, InvalidSettings
from changeflow.kinds import KINDS
from changeflow.services.drift_targets import LiveServices, watcher_for
from changeflow.services.recorder import Recorder, utc_now
from changeflow.services.records import every

log = logging.getLogger("changeflow.drift")
CONVERGED = "replica converged"  # the attachment key's prefix of a convergence event on a record
WITH_STATE = frozenset({State.CLOSED, State.REVIEW_PENDING, State.ROLLED_BACK, State.DETECTED})


class TargetCheck(BaseModel):
    target: str
    model: str
    step: Step | None = None  # None: skipped
    reason: str
    record_id: str | None = None


class DriftReport(BaseModel):
    """One check: per target what was found; the records it opened; what still needs a person."""

    checks: list[TargetCheck] = Field(default_factory=list)
    unauthorized: list[str] = Field(default_factory=list, description="unauthorized records opened by this check")
    still_open: list[str] = Field(default_factory=list, description="unauthorized records open before, drift unchanged")
    reverted: list[str] = Field(default_factory=list)
    baselines: list[str] = Field(default_factory=list)
    converged: dict[str, str] = Field(
        default_factory=dict, description="target -> replicas brought back to the repository (not drift)"
    )
    needs_attention: dict[str, str] = Field(default_factory=dict, description="record or target -> problem")

    @property
    def clean(self) -> bool:
        return not (self.unauthorized or self.still_open or self.needs_attention)


RECORD_ID = (
    r"^(DRIFT|BASE)-[0-9]{8}-[0-9]{6}-[0-9a-f]{4}$"  # what new_id makes: the CLI takes it where it takes a change ID
)


def new_id(prefix: str) -> str:
    return f"{prefix}-{utc_now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def targets_of(services: LiveServices, record: ChangeRecord) -> list[Target]:
    """The drift targets a governed record's change touched (its kind says which)."""
    if record.request is None or record.kind not in KINDS:
        return []
    return KINDS[record.kind].drift_targets(services, record.request)


def observe(services: LiveServices, target: Target) -> Snapshot:
    return watcher_for(target).observe(services, target, utc_now())


# --- at a governed change's close ---------------------------------------------------------------------


def capture_approved(services: LiveServices, recorder: Recorder) -> list[str]:
    """Keep the state production is left in on the closing record; settle the unauthorized records open on
    the same targets (linked both ways). A failure to observe is noted, never raised: the change closes."""
    record = recorder.record
    try:
        snapshots = [observe(services, target) for target in targets_of(services, record)]
    except ChangeflowError as exc:
        log.warning("approved state of %s not captured: %s", record.id, exc)
        recorder.note(attachments={**record.attachments, "approved_state_error": f"{exc.__class__.__name__}: {exc}"})
        return []
    if not snapshots:
        return []
    recorder.note(attachments={**record.attachments, APPROVED_STATE: snapshots_text(snapshots)})
    settled = []
    for snapshot in snapshots:
        found = open_drifts(
            every(services.records, RecordQuery(model=snapshot.target.model, states=frozenset({State.DETECTED})))
        )
        if (open_drift := found.get(snapshot.target.key)) is None:
            continue
        how = "legitimised" if snapshot.same_as(open_drift.drift.seen) else "superseded"
        drift_recorder = Recorder(services.records.load(open_drift.record_id), services.records)
        drift_recorder.note(attachments={**drift_recorder.record.attachments, "settled_by": record.id})
        drift_recorder.transition(
            State.CLOSED, f"{how} by governed change {record.id}, which left {snapshot.target} as its record shows"
        )
        settled.append(open_drift.record_id)
    if settled:
        recorder.note(attachments={**recorder.record.attachments, "settles": ", ".join(settled)})
    return settled


# --- the check ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Announcer:
    """What the flow does when a check opens an unauthorized record or cannot restore production."""

    unauthorized: Callable[[ChangeRecord], None] = lambda record: None
    needs_attention: Callable[[ChangeRecord, str], None] = lambda record, problem: None


def all_targets(services: LiveServices, records: list[ChangeRecord], index: list) -> dict[str, Target]:
    """Every Triton model READY on production (``index``: its repository index), every target an approved
    state names, every target of a governed change on record."""
    found: dict[str, Target] = {}
    for row in index:
        if row.state == "READY":
            target = Target(kind="triton_model", where=services.production.name, name=row.model, model=row.model)
            found[target.key] = target
    for approved in approved_states(records).values():
        found.setdefault(approved.snapshot.target.key, approved.snapshot.target)
    for record in records:
        if record.governed:
            for target in targets_of(services, record):
                found.setdefault(target.key, target)
    return found


def check(services: LiveServices, policy: DriftPolicy, announce: Announcer = Announcer()) -> DriftReport:
    """One pass over every target (see the module docstring)."""
    report = DriftReport()
    records = list(every(services.records, RecordQuery(states=WITH_STATE)))
    in_flight = {r.model: r.id for r in every(services.records, RecordQuery(states=PRODUCTION_AT_RISK))}
    try:
        index = services.production.repository_index()
    except ChangeflowError as exc:  # production unreachable: said, and the other targets are still checked
        index = []
        report.needs_attention[services.production.name] = f"{exc.__class__.__name__}: {exc}"
    for key, target in sorted(all_targets(services, records, index).items()):
        if target.model in in_flight:
            report.checks.append(
                TargetCheck(target=key, model=target.model, reason=f"skipped: {in_flight[target.model]} is in flight")
            )
            continue
        try:
            with services.locks.hold_if_free(target.model) as lease:
                if lease is None:
                    report.checks.append(
                        TargetCheck(target=key, model=target.model, reason="skipped: a change holds the model's lock")
                    )
                    continue
                check_target(services, target, policy, announce, report)
        except InvalidSettings as exc:  # e.g. records of Kubernetes changes, and no cluster in this environment
            report.checks.append(TargetCheck(target=key, model=target.model, reason=f"not checked here: {exc}"))
        except ChangeflowError as exc:  # one target that cannot be read must not hide the others
            report.needs_attention[key] = f"{exc.__class__.__name__}: {exc}"
            report.checks.append(TargetCheck(target=key, model=target.model, reason=f"not checked: {exc}"))
    return report


def check_target(
    services: LiveServices, target: Target, policy: DriftPolicy, announce: Announcer, report: DriftReport
) -> None:
    """Assess and act for one target, the model's lock held (records re-read under it)."""
    store = services.records
    mine = list(every(store, RecordQuery(model=target.model, states=WITH_STATE)))
    if next(every(store, RecordQuery(model=target.model, states=PRODUCTION_AT_RISK)), None) is not None:
        report.checks.append(
            TargetCheck(target=target.key, model=target.model, reason="skipped: a change started meanwhile")
        )
        return
    approved: Approved | None = approved_states(mine).get(target.key)
    open_drift: OpenDrift | None = open_drifts(mine).get(target.key)
    watcher = watcher_for(target)
    if approved is not None and open_drift is None:
        history = [s for record in mine for s in snapshots_of(record) if s.target.key == target.key]
        if converged := watcher.converge(services, approved.snapshot, history):
            note_converged(services, approved.record_id, converged)
            report.converged[target.key] = f"{'; '.join(converged)} (noted on {approved.record_id})"
            log.info("%s converged: %s", target.key, report.converged[target.key])
    seen = watcher.observe(services, target, utc_now())
    details = watcher.explain(approved.snapshot, seen) if approved is not None else []
    verdict = assess(seen, approved, open_drift, details)
    entry = TargetCheck(target=target.key, model=target.model, step=verdict.step, reason=verdict.reason)
    report.checks.append(entry)
    if verdict.step is Step.ADOPT_BASELINE:
        record = ChangeRecord.baseline(new_id("BASE"), target.model, target.kind, f"{target}: {seen.facts}", utc_now())
        record.attachments[APPROVED_STATE] = snapshots_text([seen])
        store.save(record)
        entry.record_id = record.id
        report.baselines.append(record.id)
    elif verdict.step is Step.ALREADY_RECORDED:
        entry.record_id = open_drift.record_id
        report.still_open.append(open_drift.record_id)
    elif verdict.step is Step.BACK_IN_LINE:
        entry.record_id = open_drift.record_id
        Recorder(store.load(open_drift.record_id), store).transition(
            State.CLOSED,
            f"production is back on the approved state (seen {seen.seen_at.isoformat()}), put back outside changeflow",
        )
    elif verdict.step is Step.RECORD_DRIFT:
        recorder = Recorder(ChangeRecord.detected(new_id("DRIFT"), verdict.drift, utc_now()), store)
        recorder.note()
        entry.record_id = recorder.record.id
        report.unauthorized.append(recorder.record.id)
        if open_drift is not None:
            Recorder(store.load(open_drift.record_id), store).transition(
                State.CLOSED, f"superseded by a further drift, {recorder.record.id}"
            )
        announce.unauthorized(recorder.record)
        if policy.action_for(target.model) is DriftAction.REVERT:
            if (problem := revert(services, recorder, approved)) is None:
                report.reverted.append(recorder.record.id)
            else:
                report.needs_attention[recorder.record.id] = problem
                announce.needs_attention(recorder.record, problem)


def note_converged(services: LiveServices, record_id: str, lines: list[str]) -> None:
    """A *replica converged* event on the record whose state the replicas were brought back to: what a
    restart undid is put back, and the record says so (a new signed version; never an unauthorized record)."""
    at = utc_now()
    recorder = Recorder(services.records.load(record_id), services.records)
    recorder.note(attachments={**recorder.record.attachments, f"{CONVERGED} {at.isoformat()}": "; ".join(lines)})


def revert(services: LiveServices, recorder: Recorder, approved: Approved) -> str | None:
    """Restore the approved state (no approval: it restores what was approved), verify it, record both;
    None when verified, else the problem (the record then says production needs attention)."""
    watcher = watcher_for(approved.snapshot.target)
    try:
        with recorder.step(Phase.ROLLBACK, "restore_approved_state") as step:
            step.detail = (
                f"restored the state {approved.record_id} approved: {watcher.restore(services, approved.snapshot)}"
            )
        with recorder.step(Phase.ROLLBACK, VERIFY_RESTORED) as step:
            seen = observe(services, approved.snapshot.target)
            wrong = compare(approved.snapshot, seen)
            verdict = watcher.verify(services, approved.snapshot)
            step.detail = (
                "; ".join(str(c) for c in wrong)
                if wrong
                else f"as approved ({', '.join(f'{k} {v}' for k, v in seen.facts.items())}); {verdict.reason}"
            )
            if wrong or not verdict.passed:
                step.fail(step.detail)
                raise ChangeflowError(step.detail)
    except Exception as exc:  # the record must say production needs a person, whatever broke
        problem = f"{exc.__class__.__name__}: {exc}"
        recorder.note(outcome=f"PRODUCTION NEEDS ATTENTION: the revert to the approved state failed ({problem})")
        return problem
    recorder.note(attachments={**recorder.record.attachments, APPROVED_STATE: snapshots_text([seen])})
    recorder.transition(
        State.ROLLED_BACK,
        f"reverted to the state {approved.record_id} approved (a pre-authorized rollback); verified: {step.detail}",
    )
    return None

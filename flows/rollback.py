"""The compensating rollback subflow: restore the last approved state of production, verify it, record it.

Needs no approval (it restores what was approved) and only the change ID: everything else is on the
record, so the safety net can run it for a change whose own flow crashed.
"""

from __future__ import annotations

import time

from prefect import flow, get_run_logger

from changeflow.domain.record import Phase
from changeflow.domain.types import ChangeKind, State
from changeflow.domain.verdict import Outcome, Verdict
from changeflow.environment import Environment
from changeflow.exceptions import ChangeflowError
from changeflow.results import ChangeResult, RollbackResult
from flows._support import load_recorder
from tasks.blue_green_steps import switch_back
from tasks.config_steps import restore_config, verify_config
from tasks.kubernetes_steps import rollout_undo, wait_rollout
from tasks.smoke_test import smoke_test
from tasks.restore_version import restore_version
from tasks.verify_restored import verify_restored


def compensate(recorder, environment: Environment, reason: str) -> ChangeResult:
    """Run the rollback subflow for the recorder's change and return the change's result after it."""
    rollback = rollback_change(recorder.record.id, environment, reason=reason)
    return ChangeResult.of(recorder.reload(), rollback.rollback_ms)


class RollbackFailed(ChangeflowError):
    """Production could not be verified on the restored state: a person must look now."""


@flow(name="rollback", log_prints=False)
def rollback_change(change_id: str, environment: Environment | None = None, reason: str = "rollback requested") -> RollbackResult:
    from changeflow.site import load_site

    environment = load_site(environment)
    logger = get_run_logger()
    recorder = load_recorder(change_id, environment)
    record = recorder.record
    if record.state is State.ROLLED_BACK:
        logger.info("%s is already rolled back; nothing to do", change_id)
        return RollbackResult(change_id=change_id, state=record.state, restored=record.outcome, verified="already verified")
    logger.warning("rolling back %s: %s", change_id, reason)
    request = record.request
    rollback_ms = None
    if record.kind is ChangeKind.MODEL_DEPLOYMENT:
        version = record.serving_version_before
        rollback_ms = restore_version(recorder, environment, record.model, version)
        verdict = verify_restored(recorder, environment, request.change.golden_set, record.model, version)
        restored = f"{record.model} v{version}"
    elif record.kind is ChangeKind.CONFIG_CHANGE:
        rollback_ms = restore_config(recorder, environment, record.model)
        verdict = verify_config(recorder, environment, record.model, Phase.ROLLBACK, expect_previous=True)
        restored = f"{record.model}/config.pbtxt as before {change_id}"
    elif record.kind is ChangeKind.TRITON_UPGRADE:
        spec = request.change
        started = time.perf_counter()
        restored, generation = rollout_undo(recorder, environment, spec.namespace, spec.deployment)
        status = wait_rollout(recorder, environment, spec.namespace, spec.deployment, spec.progress_deadline_seconds, generation, phase=Phase.ROLLBACK)
        rollback_ms = (time.perf_counter() - started) * 1000.0
        verdict = smoke_test(recorder, environment, spec.golden_set, None, phase=Phase.ROLLBACK) if status.done else Verdict(outcome=Outcome.FAIL, reason=status.message)
    elif record.kind is ChangeKind.BLUE_GREEN:
        spec = request.change
        started = time.perf_counter()
        restored = switch_back(recorder, environment, spec.namespace, spec.service, spec.blue)
        rollback_ms = (time.perf_counter() - started) * 1000.0
        verdict = smoke_test(recorder, environment, spec.golden_set, None, phase=Phase.ROLLBACK)
    else:
        raise RollbackFailed(f"{change_id}: no rollback for kind {record.kind}")
    if not verdict.passed:
        recorder.note(outcome=f"ROLLBACK NOT VERIFIED: {verdict}")
        raise RollbackFailed(f"{change_id}: restored {restored} but verification failed: {verdict}")
    if record.kind is ChangeKind.MODEL_DEPLOYMENT:
        recorder.note(serving_version_after=record.serving_version_before)
    recorder.transition(State.ROLLED_BACK, f"rolled back ({reason}); {restored} verified: {verdict.reason}")
    return RollbackResult(change_id=change_id, state=State.ROLLED_BACK, restored=restored, verified=str(verdict), rollback_ms=rollback_ms)

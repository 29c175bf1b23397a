"""Model deployment: stage → validate (abort on failure) → promote (warm standby) → smoke → bake → close.

Any failure after production was touched, a failed smoke test or bake, or a cancellation runs the
compensating rollback subflow, so production always ends on a known-good version.
"""

from __future__ import annotations

from prefect import flow
from prefect.states import Cancelled

from changeflow.domain.analysis import BakeThresholds
from changeflow.domain.record import ChangeRecord
from changeflow.domain.request import ChangeRequest
from changeflow.domain.types import ChangeKind, State
from changeflow.environment import Environment
from changeflow.exceptions import ChangeCancelled
from changeflow.results import ChangeResult
from flows._support import close_change, open_recorder
from flows.rollback import compensate, rollback_change
from flows.safety import compensate_if_touched
from tasks.finalize import finalize
from tasks.monitor import monitor
from tasks.promote import promote
from tasks.serving import check_serving_version
from tasks.smoke_test import smoke_test
from tasks.stage import stage
from tasks.validate import validate


@flow(name="model-deployment", on_cancellation=[compensate_if_touched], on_crashed=[compensate_if_touched])
def model_deployment(
    request: ChangeRequest,
    environment: Environment,
    record: ChangeRecord | None = None,
    thresholds: BakeThresholds = BakeThresholds(),
) -> ChangeResult:
    spec, model = request.change, request.model
    recorder = open_recorder(request, environment, record, ChangeKind.MODEL_DEPLOYMENT)
    try:
        old = check_serving_version(recorder, environment, model, spec.from_version)
        stage(recorder, environment, model, spec.to_version)
        verdict = validate(recorder, environment, spec.golden_set, spec.to_version)
    except BaseException as exc:
        recorder.transition(State.ABORTED, f"aborted before production was touched: {exc}")
        raise
    if not verdict.passed:
        recorder.transition(State.ABORTED, f"validation failed in staging, production untouched: {verdict.reason}")
        return ChangeResult.of(recorder.record)
    try:
        promote(recorder, environment, model, old, spec.to_version)
        recorder.transition(State.VERIFYING, f"v{spec.to_version} promoted beside v{old}")
        verdict = smoke_test(recorder, environment, spec.golden_set, spec.to_version)
        if verdict.passed:
            verdict = monitor(recorder, environment, spec.golden_set, spec.to_version, spec.bake_seconds, thresholds).verdict
        if not verdict.passed:
            return compensate(recorder, environment, str(verdict))
        finalize(recorder, environment, model, spec.to_version)
        recorder.note(serving_version_after=spec.to_version)
        close_change(recorder, f"v{spec.to_version} serving; bake {verdict.reason}")
        return ChangeResult.of(recorder.record)
    except ChangeCancelled as exc:
        rollback = rollback_change(request.id, environment, reason=str(exc))
        result = ChangeResult.of(recorder.reload(), rollback.rollback_ms)
        return Cancelled(message=f"{exc}; production restored: {rollback.restored}", data=result)
    except BaseException as exc:
        rollback_change(request.id, environment, reason=f"{exc.__class__.__name__}: {exc}")
        raise

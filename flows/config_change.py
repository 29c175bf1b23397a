"""Config change: keep the exact previous config.pbtxt, apply the settings, reload, verify; revert on failure."""

from __future__ import annotations

from prefect import flow

from changeflow.domain.record import ChangeRecord, Phase
from changeflow.domain.request import ChangeRequest
from changeflow.domain.types import ChangeKind, State
from changeflow.environment import Environment
from changeflow.results import ChangeResult
from flows._support import close_change, open_recorder
from flows.rollback import compensate, rollback_change
from flows.safety import compensate_if_touched
from tasks.config_steps import apply_config, backup_config, reload_model, verify_config


@flow(name="config-change", on_cancellation=[compensate_if_touched], on_crashed=[compensate_if_touched])
def config_change(request: ChangeRequest, environment: Environment, record: ChangeRecord | None = None) -> ChangeResult:
    model, settings = request.model, dict(request.change.set)
    recorder = open_recorder(request, environment, record, ChangeKind.CONFIG_CHANGE)
    try:
        backup_config(recorder, environment, model)
        apply_config(recorder, environment, model, settings)
    except BaseException as exc:
        if not recorder.record.production_touched:
            recorder.transition(State.ABORTED, f"aborted before production was touched: {exc}")
            raise
        rollback_change(request.id, environment, reason=f"{exc.__class__.__name__}: {exc}")
        raise
    try:
        reload_model(recorder, environment, model)
        recorder.transition(State.VERIFYING, "new config loaded")
        verdict = verify_config(recorder, environment, model, Phase.VERIFICATION, settings=settings)
        if not verdict.passed:
            return compensate(recorder, environment, str(verdict))
        close_change(recorder, f"config applied and verified: {verdict.reason}")
        return ChangeResult.of(recorder.record)
    except BaseException as exc:
        rollback_change(request.id, environment, reason=f"{exc.__class__.__name__}: {exc}")
        raise

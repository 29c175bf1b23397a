"""Triton upgrade on Kubernetes: record the template, patch the image, wait for the rollout, smoke test
through the serving endpoint; a failed or stalled rollout or a failed smoke test is undone like
``kubectl rollout undo`` by the rollback subflow."""

from __future__ import annotations

from prefect import flow

from changeflow.domain.record import ChangeRecord
from changeflow.domain.request import ChangeRequest
from changeflow.domain.types import ChangeKind, State
from changeflow.environment import Environment
from changeflow.results import ChangeResult
from flows._support import close_change, open_recorder
from flows.rollback import compensate, rollback_change
from flows.safety import compensate_if_touched
from tasks.kubernetes_steps import patch_image, record_template, wait_rollout
from tasks.smoke_test import smoke_test


@flow(name="triton-upgrade", on_cancellation=[compensate_if_touched], on_crashed=[compensate_if_touched])
def triton_upgrade(request: ChangeRequest, environment: Environment, record: ChangeRecord | None = None) -> ChangeResult:
    spec = request.change
    recorder = open_recorder(request, environment, record, ChangeKind.TRITON_UPGRADE)
    try:
        before = record_template(recorder, environment, spec.namespace, spec.deployment, spec.container)
    except BaseException as exc:
        recorder.transition(State.ABORTED, f"aborted before production was touched: {exc}")
        raise
    try:
        generation = patch_image(recorder, environment, spec.namespace, spec.deployment, spec.container, spec.image, spec.args)
        rollout = wait_rollout(recorder, environment, spec.namespace, spec.deployment, spec.progress_deadline_seconds, generation)
        recorder.transition(State.VERIFYING, f"{spec.container}: {before} → {spec.image}: {rollout.message}")
        if not rollout.done:
            return compensate(recorder, environment, f"rollout failed: {rollout.message}")
        verdict = smoke_test(recorder, environment, spec.golden_set, None)
        if not verdict.passed:
            return compensate(recorder, environment, str(verdict))
        close_change(recorder, f"{spec.image} rolled out; {verdict.reason}")
        return ChangeResult.of(recorder.record)
    except BaseException as exc:
        rollback_change(request.id, environment, reason=f"{exc.__class__.__name__}: {exc}")
        raise

"""Blue-green on Kubernetes: green beside blue, validate green through its own endpoint, switch the
Service (only to ready pods), bake with blue still up, retire blue. Validation failure leaves the
Service on blue; a failure after the switch points it back at blue."""

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
from tasks.blue_green_steps import bake_service, deploy_green, retire_blue, switch_service
from tasks.kubernetes_steps import wait_rollout
from tasks.smoke_test import smoke_test


@flow(name="blue-green", on_cancellation=[compensate_if_touched], on_crashed=[compensate_if_touched])
def blue_green(request: ChangeRequest, environment: Environment, record: ChangeRecord | None = None) -> ChangeResult:
    spec = request.change
    recorder = open_recorder(request, environment, record, ChangeKind.BLUE_GREEN)
    try:
        generation = deploy_green(recorder, environment, spec.namespace, spec.blue, spec.green, spec.container, spec.image)
        rollout = wait_rollout(recorder, environment, spec.namespace, spec.green, spec.progress_deadline_seconds, generation)
        verdict = smoke_test(recorder, environment, spec.golden_set, None, target="staging") if rollout.done else None
    except BaseException as exc:
        recorder.transition(State.ABORTED, f"aborted with service/{spec.service} still on {spec.blue}: {exc}")
        raise
    if verdict is None or not verdict.passed:
        why = rollout.message if verdict is None else verdict.reason
        recorder.transition(State.ABORTED, f"green not valid, service/{spec.service} never left {spec.blue}: {why}")
        return ChangeResult.of(recorder.record)
    try:
        switch_service(recorder, environment, spec.namespace, spec.service, spec.green)
        recorder.transition(State.VERIFYING, f"service/{spec.service} on {spec.green}; {spec.blue} kept running")
        verdict = smoke_test(recorder, environment, spec.golden_set, None)
        if verdict.passed:
            verdict = bake_service(recorder, environment, spec.golden_set, spec.bake_seconds)
        if not verdict.passed:
            return compensate(recorder, environment, str(verdict))
        retire_blue(recorder, environment, spec.namespace, spec.blue)
        close_change(recorder, f"{spec.green} serving, {spec.blue} retired; {verdict.reason}")
        return ChangeResult.of(recorder.record)
    except BaseException as exc:
        rollback_change(request.id, environment, reason=f"{exc.__class__.__name__}: {exc}")
        raise

"""Triton upgrade on Kubernetes: record the template, patch the image, wait for the rollout, smoke test
through the serving endpoint; and ``restore``: undo like ``kubectl rollout undo``, wait, smoke test."""

from __future__ import annotations

import time

from changeflow.flows.compensation import HOOKS, Execution, Restoration
from changeflow.tasks.kubernetes import patch_image, record_template, rollout_undo, wait_rollout
from changeflow.tasks.shared import smoke_test
from prefect import flow

from changeflow.adapters.prefect import change_run_name
from changeflow.bootstrap import Services, bootstrap
from changeflow.domain.record import ChangeRecord, ChangeResult, Phase
from changeflow.domain.request import ChangeRequest
from changeflow.domain.verdicts import Outcome, Verdict
from changeflow.kinds.triton_upgrade import FLOW_NAME
from changeflow.services.recorder import Recorder
from changeflow.settings.environment import Environment
from changeflow.settings.governance import Governance


def rollout_verdict(status) -> Verdict:
    return Verdict(
        outcome=Outcome.PASS if status.done else Outcome.FAIL,
        reason=status.message if status.done else f"rollout failed: {status.message}",
    )


@flow(name=FLOW_NAME, flow_run_name=change_run_name, **HOOKS)
def triton_upgrade(
    request: ChangeRequest,
    environment: Environment,
    record: ChangeRecord | None = None,
    governance: Governance | None = None,
) -> ChangeResult:
    spec = request.change
    with Execution(request, bootstrap(environment), record, "triton_upgrade", governance=governance) as run:
        before = record_template(run.recorder, run.services, spec.namespace, spec.deployment, spec.container)
        generation = patch_image(
            run.recorder, run.services, spec.namespace, spec.deployment, spec.container, spec.image, spec.args
        )
        rollout = wait_rollout(
            run.recorder, run.services, spec.namespace, spec.deployment, spec.progress_deadline_seconds, generation
        )
        run.verifying(f"{spec.container}: {before} → {spec.image}: {rollout.message}")
        run.require(rollout_verdict(rollout))
        verdict = run.require(smoke_test(run.recorder, run.services, spec.golden_set, None))
        run.close(f"{spec.image} rolled out; {verdict.reason}")
    return run.result


def restore(recorder: Recorder, services: Services, record: ChangeRecord) -> Restoration:
    spec = record.request.change
    started = time.perf_counter()
    restored, generation = rollout_undo(recorder, services, spec.namespace, spec.deployment)
    status = wait_rollout(
        recorder,
        services,
        spec.namespace,
        spec.deployment,
        spec.progress_deadline_seconds,
        generation,
        phase=Phase.ROLLBACK,
    )
    rollback_ms = (time.perf_counter() - started) * 1000.0
    verdict = (
        smoke_test(recorder, services, spec.golden_set, None, phase=Phase.ROLLBACK)
        if status.done
        else rollout_verdict(status)
    )
    return Restoration(restored=restored, verdict=verdict, rollback_ms=rollback_ms)

"""Blue-green on Kubernetes: green beside blue, validate green through its own endpoint, switch the
Service (only to ready pods), bake with blue still up, retire blue. A validation failure leaves the
Service on blue and scales green to zero; ``restore`` (after the switch) points it back at blue and smoke-tests."""

from __future__ import annotations

import time

from changeflow.flows.compensation import HOOKS, Execution, Restoration
from changeflow.flows.triton_upgrade import rollout_verdict
from changeflow.tasks.blue_green import deploy_green, retire_blue, retire_green, switch_back, switch_service
from changeflow.tasks.kubernetes import wait_rollout
from changeflow.tasks.shared import monitor, smoke_test
from prefect import flow

from changeflow.adapters.prefect import change_run_name
from changeflow.bootstrap import Services, bootstrap
from changeflow.domain.record import ChangeRecord, ChangeResult, Phase
from changeflow.domain.request import ChangeRequest
from changeflow.kinds.blue_green import BAKE, DEPLOY_GREEN, FLOW_NAME, KIND, VALIDATE_GREEN
from changeflow.services.bake import bake_evidence
from changeflow.services.recorder import Recorder
from changeflow.settings.environment import Environment
from changeflow.settings.governance import Governance


@flow(name=FLOW_NAME, flow_run_name=change_run_name, **HOOKS)
def blue_green(
    request: ChangeRequest,
    environment: Environment,
    record: ChangeRecord | None = None,
    governance: Governance | None = None,
) -> ChangeResult:
    spec = request.change
    never_left = f"green not valid, service/{spec.service} never left {spec.blue}"

    def retire_unused_green(run: Execution) -> None:
        if any(step.name == DEPLOY_GREEN for step in run.recorder.record.execution_steps):
            retire_green(run.recorder, run.services, spec.namespace, spec.green)

    with Execution(
        request, bootstrap(environment), record, "blue_green", on_abort=retire_unused_green, governance=governance
    ) as run:
        generation = deploy_green(
            run.recorder, run.services, spec.namespace, spec.blue, spec.green, spec.container, spec.image
        )
        rollout = wait_rollout(
            run.recorder, run.services, spec.namespace, spec.green, spec.progress_deadline_seconds, generation
        )
        run.require(rollout_verdict(rollout), abort=never_left)
        run.require(
            smoke_test(
                run.recorder,
                run.services,
                spec.golden_set,
                None,
                Phase.EXECUTION,
                target="staging",
                step_name=VALIDATE_GREEN,
            ),
            abort=never_left,
        )
        switch_service(run.recorder, run.services, spec.namespace, spec.service, spec.green)
        run.verifying(f"service/{spec.service} on {spec.green}; {spec.blue} kept running")
        run.require(smoke_test(run.recorder, run.services, spec.golden_set, None))
        report = monitor(
            run.recorder,
            run.services,
            spec.golden_set,
            None,
            spec.bake_seconds,
            KIND.bake_rule(run.verification, spec),
            step_name=BAKE,
        )
        bake = run.require_bake(report.verdict, bake_evidence(report))
        retire_blue(run.recorder, run.services, spec.namespace, spec.blue)
        run.close(f"{spec.green} serving, {spec.blue} retired; {bake.reason}")
    return run.result


def restore(recorder: Recorder, services: Services, record: ChangeRecord) -> Restoration:
    spec = record.request.change
    started = time.perf_counter()
    restored = switch_back(recorder, services, spec.namespace, spec.service, spec.blue)
    rollback_ms = (time.perf_counter() - started) * 1000.0
    verdict = smoke_test(recorder, services, spec.golden_set, None, phase=Phase.ROLLBACK)
    return Restoration(restored=restored, verdict=verdict, rollback_ms=rollback_ms)

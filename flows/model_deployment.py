"""Model deployment: stage (production observed around it) → validate (abort on failure) → promote (warm
standby) → smoke → bake → close; and ``restore``, what its rollback does: serve the previous version again
and verify it. A stage that changed production fails with production touched: it is rolled back, not aborted."""

from __future__ import annotations

from changeflow.flows.compensation import HOOKS, Execution, Restoration
from changeflow.tasks.model_deployment import (
    check_serving_version,
    finalize,
    promote,
    restore_version,
    stage,
    validate,
    verify_restored,
)
from changeflow.tasks.shared import monitor, smoke_test
from prefect import flow

from changeflow.adapters.prefect import change_run_name
from changeflow.bootstrap import Services, bootstrap
from changeflow.domain.record import ChangeRecord, ChangeResult, Phase
from changeflow.domain.request import ChangeRequest
from changeflow.domain.waves import wave_label
from changeflow.kinds.model_deployment import FLOW_NAME, KIND, WIDEN, standby_possible
from changeflow.services.bake import bake_evidence
from changeflow.services.recorder import Recorder
from changeflow.settings.environment import Environment
from changeflow.settings.governance import Governance


@flow(name=FLOW_NAME, flow_run_name=change_run_name, **HOOKS)
def model_deployment(
    request: ChangeRequest,
    environment: Environment,
    record: ChangeRecord | None = None,
    governance: Governance | None = None,
) -> ChangeResult:
    # No thresholds parameter: a run parameter is the requester's. The bake is judged by the governance given
    # (run.verification; its defaults when run directly without governance), as the approval form showed.
    spec, model = request.change, request.model
    with Execution(request, bootstrap(environment), record, "model_deployment", governance=governance) as run:
        old = check_serving_version(run.recorder, run.services, model, spec.from_version, spec.to_version)
        run.require(
            stage(run.recorder, run.services, model, spec.to_version), abort="staging failed, production untouched"
        )
        run.require(
            validate(run.recorder, run.services, spec.golden_set, spec.to_version),
            abort="validation failed in staging, production untouched",
        )
        sizes = KIND.wave_sizes(run.verification, request.type, run.services.replica_count())
        rule = KIND.bake_rule(run.verification, spec)
        baseline = old if standby_possible(old, spec.to_version) else None
        promote(run.recorder, run.services.wave(sizes[0]), model, old, spec.to_version)
        run.verifying(f"v{spec.to_version} promoted beside v{old}")
        run.require(smoke_test(run.recorder, run.services.wave(sizes[0]), spec.golden_set, spec.to_version))
        for number, size in enumerate(sizes, start=1):
            wave = run.services.wave(size)
            if number > 1:
                promote(run.recorder, wave, model, old, spec.to_version, WIDEN, Phase.VERIFICATION)
            report = monitor(
                run.recorder,
                wave,
                spec.golden_set,
                spec.to_version,
                spec.bake_seconds,
                rule,
                baseline=baseline,
                wave=wave_label(number, sizes),
            )
            bake = run.require_bake(report.verdict, bake_evidence(report))
        finalize(run.recorder, run.services, model, spec.to_version)
        run.close(f"v{spec.to_version} serving; bake {bake.reason}", serving_version_after=spec.to_version)
    return run.result


def restore(recorder: Recorder, services: Services, record: ChangeRecord) -> Restoration:
    version = record.serving_version_before
    rollback_ms = restore_version(recorder, services, record.model, version)
    verdict = verify_restored(recorder, services, record.request.change.golden_set, record.model, version)
    return Restoration(
        restored=f"{record.model} v{version}", verdict=verdict, rollback_ms=rollback_ms, serving_version_after=version
    )

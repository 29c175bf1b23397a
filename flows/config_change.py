"""Config change: keep the exact previous config.pbtxt, apply the settings, reload, verify; and
``restore``, what its rollback does: write the previous bytes back, reload, verify."""

from __future__ import annotations

from changeflow.flows.compensation import HOOKS, Execution, Restoration
from changeflow.tasks.config_change import apply_config, backup_config, reload_model, restore_config, verify_config
from prefect import flow

from changeflow.adapters.prefect import change_run_name
from changeflow.bootstrap import Services, bootstrap
from changeflow.domain.record import ChangeRecord, ChangeResult, Phase
from changeflow.domain.request import ChangeRequest
from changeflow.kinds.config_change import FLOW_NAME
from changeflow.services.recorder import Recorder
from changeflow.settings.environment import Environment
from changeflow.settings.governance import Governance


@flow(name=FLOW_NAME, flow_run_name=change_run_name, **HOOKS)
def config_change(
    request: ChangeRequest,
    environment: Environment,
    record: ChangeRecord | None = None,
    governance: Governance | None = None,
) -> ChangeResult:
    model, settings = request.model, dict(request.change.set)
    with Execution(request, bootstrap(environment), record, "config_change", governance=governance) as run:
        backup_config(run.recorder, run.services, model)
        apply_config(run.recorder, run.services, model, settings)
        reload_model(run.recorder, run.services, model)
        run.verifying("new config loaded")
        verdict = run.require(verify_config(run.recorder, run.services, model, Phase.VERIFICATION, settings=settings))
        run.close(f"config applied and verified: {verdict.reason}")
    return run.result


def restore(recorder: Recorder, services: Services, record: ChangeRecord) -> Restoration:
    rollback_ms = restore_config(recorder, services, record.model)
    verdict = verify_config(recorder, services, record.model, Phase.ROLLBACK, expect_previous=True)
    return Restoration(
        restored=f"{record.model}/config.pbtxt as before {record.id}", verdict=verdict, rollback_ms=rollback_ms
    )

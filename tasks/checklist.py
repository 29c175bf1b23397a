"""The pre-change checklist: facts checked by machine (live server, metrics endpoint), judged by domain."""

from prefect import get_run_logger, task

from changeflow.adapters.factory import config_store, model_server
from changeflow.domain.checklist import ChecklistFacts, ChecklistItem, evaluate_checklist
from changeflow.domain.plan import ChangePlan
from changeflow.domain.request import ChangeRequest
from changeflow.domain.types import ChangeKind
from changeflow.domain.windows import Slot
from changeflow.environment import Environment
from changeflow.exceptions import ChangeflowError
from tasks._common import STEP


def _previous(environment: Environment, request: ChangeRequest) -> tuple[bool | None, str]:
    production = model_server(environment.production)
    try:
        if request.kind is ChangeKind.MODEL_DEPLOYMENT:
            ready = production.ready_versions(request.model)
            want = request.change.from_version or (max(ready) if ready else None)
            ok = want is not None and want in ready
            return ok, f"{request.model} v{want} READY on {environment.production.name} (READY: {ready})" if ok else f"{request.model} v{want} not READY on production (READY: {ready})"
        if request.kind is ChangeKind.CONFIG_CHANGE:
            config_store(environment.production).read_config(request.model)
            ready = production.ready_versions(request.model)
            return bool(ready), f"current {request.model}/config.pbtxt readable, {request.model} READY {ready}"
        if request.kind in (ChangeKind.TRITON_UPGRADE, ChangeKind.BLUE_GREEN):
            from changeflow.domain.rollout import rollout_status
            from tasks.kubernetes_steps import cluster

            spec = request.change
            name = spec.deployment if request.kind is ChangeKind.TRITON_UPGRADE else spec.blue
            status = rollout_status(cluster(environment).read_deployment(spec.namespace, name))
            return status.done, f"deployment/{name} (what a rollback returns to): {status.message}"
    except ChangeflowError as exc:
        return False, str(exc)
    return None, "not applicable"


@task(name="pre-change-checklist", **STEP)
def run_checklist(environment: Environment, request: ChangeRequest, plan: ChangePlan, slot: Slot, incident_delivered: bool) -> list[ChecklistItem]:
    previous_ok, previous_detail = _previous(environment, request)
    try:
        model_server(environment.production).scrape()
        metrics_ok, metrics_detail = True, f"metrics endpoint {environment.production.metrics_url} answers"
    except ChangeflowError as exc:
        metrics_ok, metrics_detail = False, str(exc)
    facts = ChecklistFacts(
        plan_steps=len(plan.execution_steps) + len(plan.verification_steps),
        rollback_steps=len(plan.rollback_steps),
        previous_available=previous_ok,
        previous_detail=previous_detail,
        window=slot.window,
        window_name=slot.window_name,
        on_call_notified_by_event=incident_delivered,
        metrics_answer=metrics_ok,
        metrics_detail=metrics_detail,
    )
    items = evaluate_checklist(request, facts)
    for item in items:
        get_run_logger().info("checklist: %s %s — %s", "✔" if item.ok else "✘", item.name, item.reason)
    return items

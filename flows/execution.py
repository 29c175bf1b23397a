"""Execute a scheduled change: notify, pre-change checklist, then the kind's execution flow under the
model's lock. Shared by the governed flows (slot open now) and the maintenance-window flow (later)."""

from __future__ import annotations

from prefect import get_run_logger

from changeflow.adapters.locks import model_lock
from changeflow.domain.checklist import blocking
from changeflow.domain.plan import ChangePlan
from changeflow.domain.request import ChangeRequest
from changeflow.domain.types import ChangeKind, State
from changeflow.domain.windows import Slot
from changeflow.environment import Environment
from changeflow.governance import Governance
from changeflow.recorder import Recorder
from changeflow.results import ChangeResult
from flows.blue_green import blue_green
from flows.config_change import config_change
from flows.model_deployment import model_deployment
from flows.triton_upgrade import triton_upgrade
from tasks.checklist import run_checklist
from tasks.notify import notify

EXECUTORS = {
    ChangeKind.MODEL_DEPLOYMENT: model_deployment,
    ChangeKind.CONFIG_CHANGE: config_change,
    ChangeKind.TRITON_UPGRADE: triton_upgrade,
    ChangeKind.BLUE_GREEN: blue_green,
}


def execute_scheduled(recorder: Recorder, request: ChangeRequest, environment: Environment, governance: Governance, plan: ChangePlan, slot: Slot) -> ChangeResult:
    delivered = notify(governance, recorder.record, "executing")
    items = run_checklist(environment, request, plan, slot, delivered)
    failed = blocking(items)
    if failed:
        recorder.transition(State.ABORTED, "pre-change checklist failed: " + "; ".join(f"{i.name}: {i.reason}" for i in failed))
        return ChangeResult.of(recorder.record)
    get_run_logger().info("pre-change checklist passed (%d items)", len(items))
    with model_lock(request.model, governance.lock_timeout_s):
        try:
            result = EXECUTORS[request.kind](request, environment, recorder.record)
        finally:
            record = recorder.reload()
            notify(governance, record, "rolled back" if record.state is State.ROLLED_BACK else record.state.value)
    return result

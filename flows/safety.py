"""Safety nets for changes whose flow stopped after touching production.

``compensate_if_touched`` is a flow-run hook (Prefect runs it after a runner cancellation or a crash);
a process killed outright runs no hooks, so the ``safety-net`` flow finds such orphans by their record
and dead executor and rolls them back (run it on a schedule, from an automation, or `changeflow reconcile`).
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from pydantic import BaseModel

from changeflow.adapters.factory import record_store
from changeflow.environment import Environment


def compensate_if_touched(flow, flow_run, state) -> None:
    from flows.rollback import rollback_change

    logger = get_run_logger()
    parameters = flow_run.parameters or {}
    try:
        environment = Environment.model_validate(parameters["environment"])
        change_id = parameters["request"]["id"]
    except (KeyError, TypeError, ValueError) as exc:
        logger.error("cannot compensate flow run %s: parameters unreadable (%s)", flow_run.name, exc)
        return
    record = record_store(environment.records).load(change_id)
    if record.production_touched and not record.is_terminal:
        logger.warning("%s ended %s after touching production: rolling back", change_id, state.type.value)
        rollback_change(change_id, environment, reason=f"flow run {flow_run.name} {state.type.value.lower()}")


class SafetyNetResult(BaseModel):
    rolled_back: list[str] = []
    failed: dict[str, str] = {}


@flow(name="safety-net")
def safety_net(environment: Environment | None = None) -> SafetyNetResult:
    """Roll back every change left mid-flight after touching production (see ``changeflow.safety_net``)."""
    from changeflow.site import load_site

    environment = load_site(environment)
    from changeflow.safety_net import orphans
    from flows.rollback import rollback_change

    logger = get_run_logger()
    result = SafetyNetResult()
    for orphan in orphans(record_store(environment.records).list()):
        logger.warning("%s is orphaned (%s): rolling back", orphan.change_id, orphan.why)
        try:
            rollback_change(orphan.change_id, environment, reason=f"safety net: {orphan.why}")
            result.rolled_back.append(orphan.change_id)
        except Exception as exc:  # one failed rollback must not stop the others; it is reported
            logger.error("rollback of %s failed: %s", orphan.change_id, exc)
            result.failed[orphan.change_id] = str(exc)
    return result

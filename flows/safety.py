"""Flow-run hooks that compensate a change whose flow was cancelled or crashed after touching production.

Runs where Prefect runs hooks (the runner process after a cancellation, the engine after a crash);
a process killed outright runs no hooks, which the safety-net automation covers.
"""

from __future__ import annotations

from prefect import get_run_logger

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

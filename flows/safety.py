"""The safety net for changes whose flow stopped after touching production.

Flow hooks (``compensation.compensate_if_touched``) cover a cancelled or crashed run; a process killed
outright runs no hooks, so the ``safety-net`` flow finds such orphans by their record and their dead
executor (``services.orphans``) and rolls them back. Run it on a schedule (``changeflow serve`` does,
every minute) or by hand with ``changeflow reconcile``.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from pydantic import BaseModel

from changeflow.adapters.prefect import flow_run_ended
from changeflow.bootstrap import bootstrap
from changeflow.domain.history import RecordQuery
from changeflow.domain.record import PRODUCTION_AT_RISK, State
from changeflow.services.recorder import Recorder
from changeflow.services.orphans import orphans
from changeflow.services.records import every
from changeflow.settings.defaults import environment_or_default
from changeflow.settings.environment import Environment
from changeflow.flows.compensation import rollback_change


class SafetyNetResult(BaseModel):
    rolled_back: list[str] = []
    aborted: list[str] = []
    failed: dict[str, str] = {}


@flow(name="safety-net")
def safety_net(environment: Environment | None = None) -> SafetyNetResult:
    """Roll back every change left mid-flight after touching production."""
    environment = environment_or_default(environment)
    logger = get_run_logger()
    result = SafetyNetResult()
    services = bootstrap(environment)
    in_flight = list(every(services.records, RecordQuery(states=PRODUCTION_AT_RISK)))
    for orphan in orphans(in_flight, run_ended=flow_run_ended):
        if not orphan.production_touched:
            logger.warning("%s is orphaned (%s) before touching production: aborted", orphan.change_id, orphan.why)
            Recorder(services.records.load(orphan.change_id), services.records).transition(
                State.ABORTED, f"safety net: {orphan.why} before production was touched; nothing to roll back")
            result.aborted.append(orphan.change_id)
            continue
        logger.warning("%s is orphaned (%s): rolling back", orphan.change_id, orphan.why)
        try:
            rollback_change(orphan.change_id, environment, reason=f"safety net: {orphan.why}")
            result.rolled_back.append(orphan.change_id)
        except Exception as exc:  # one failed rollback must not stop the others; it is reported
            logger.error("rollback of %s failed: %s", orphan.change_id, exc)
            result.failed[orphan.change_id] = str(exc)
    return result

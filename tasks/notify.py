"""Post a change event to incident management, when configured. Never fails the change."""

from prefect import get_run_logger, task

from changeflow.adapters.incidents import post_change_event
from changeflow.domain.record import ChangeRecord
from changeflow.governance import Governance
from tasks._common import NO_RETRY


@task(name="notify-incident-management", **NO_RETRY)  # the adapter retries; a failure is logged, not raised
def notify(governance: Governance, record: ChangeRecord, moment: str) -> bool:
    if governance.incident_events is None:
        return False
    delivered = post_change_event(governance.incident_events, record, moment)
    log = get_run_logger()
    (log.info if delivered else log.warning)("change event '%s' for %s %s", moment, record.id, "delivered" if delivered else "not delivered")
    return delivered

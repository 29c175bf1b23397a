"""The drift check: production against the state the records approved; an unauthorized change becomes
a record (and, by policy, is reverted).

``changeflow serve`` deploys it on a schedule (every 60 s by default); ``changeflow drift check`` runs one
pass. What a pass decides is ``services.drift``'s; this flow only wires in the announcements: a
``changeflow.change.unauthorized`` event and an incident change event for each new unauthorized record,
``changeflow.change.needs-attention`` when a revert did not verify.
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from changeflow.adapters.prefect import refuse_executor_parameters
from changeflow.bootstrap import Services, bootstrap
from changeflow.domain.record import ChangeRecord
from changeflow.services.drift import Announcer, DriftReport, check
from changeflow.settings.defaults import environment_or_default, governance_or_default
from changeflow.settings.environment import Environment
from changeflow.settings.governance import Governance

UNAUTHORIZED = "unauthorized"
NEEDS_ATTENTION = "needs-attention"


def announcer(services: Services, governance: Governance) -> Announcer:
    logger, events = get_run_logger(), services.events

    def unauthorized(record: ChangeRecord) -> None:
        logger.warning("unauthorized change %s: %s", record.id, record.drift.summary())
        events.announce(
            record.id,
            UNAUTHORIZED,
            {
                "target": record.drift.target.key,
                "changes": [c.model_dump() for c in record.drift.changes],
                "approved_by": record.drift.approved_by,
                "seen_at": record.drift.seen.seen_at.isoformat(),
            },
        )
        events.report(governance.incident_events, record, "unauthorized change detected")

    def needs_attention(record: ChangeRecord, problem: str) -> None:
        logger.error("%s: the revert did not verify: %s", record.id, problem)
        events.announce(record.id, NEEDS_ATTENTION, {"problem": problem})
        events.report(governance.incident_events, record, "production needs attention")

    return Announcer(unauthorized=unauthorized, needs_attention=needs_attention)


@flow(name="drift-check")
def drift_check(environment: Environment | None = None, governance: Governance | None = None) -> DriftReport:
    """One pass: each target's live state against its approved state (see ``services.drift``)."""
    refuse_executor_parameters(environment=environment, governance=governance)
    governance = governance_or_default(governance)
    services = bootstrap(environment_or_default(environment))
    report = check(services, governance.drift, announcer(services, governance))
    logger = get_run_logger()
    for entry in report.checks:
        logger.info("%s: %s", entry.target, entry.reason)
    return report

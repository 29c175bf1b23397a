"""The safety net for changes whose executor died: nobody has to run a command.

Flow hooks (``compensation.compensate_if_touched``) cover a cancelled or crashed run that can still run
code; a process killed outright runs no hooks. The ``safety-net`` flow finds such orphans by their record
and their dead executor (``services.orphans``) and *settles* each one:

- died before touching production: closed as ``aborted``;
- after: rolled back, retried with backoff; a restore that still fails leaves the record saying production
  needs attention (the net tries again on its next run, so a production server that comes back is restored
  then), sends an incident change event, and the flow reports it (``changeflow reconcile`` exits non-zero);
- either way the model's lock the dead executor held is freed at once (before the record says so).

``changeflow serve`` runs it every minute and, through Prefect automations (``adapters.prefect_recovery``),
as soon as a change's flow run crashes, fails or stops sending heartbeats. ``changeflow reconcile`` runs it
by hand.
"""

from __future__ import annotations

import time

from prefect import flow, get_run_logger
from pydantic import BaseModel

from changeflow.adapters.incidents import post_change_event
from changeflow.adapters.prefect import announce, flow_run_ended
from changeflow.bootstrap import Services, bootstrap
from changeflow.domain.history import RecordQuery
from changeflow.domain.record import PRODUCTION_AT_RISK, State
from changeflow.exceptions import ServerUnavailable
from changeflow.flows.compensation import free_model_lock, rollback_change
from changeflow.services.audit import trusted
from changeflow.services.orphans import Orphan, orphans
from changeflow.services.recorder import Recorder
from changeflow.services.records import every
from changeflow.settings.defaults import environment_or_default
from changeflow.settings.environment import Environment
from changeflow.settings.governance import Governance

NEEDS_ATTENTION = "needs-attention"


class SafetyNetResult(BaseModel):
    rolled_back: list[str] = []
    aborted: list[str] = []
    failed: dict[str, str] = {}


class Settling(BaseModel):
    """How a restore is retried in one run: ``attempts`` tries, the first pause ``backoff_s`` (doubling);
    with production unreachable, one try every ``unreachable_poll_s`` for up to ``unreachable_wait_s``."""

    attempts: int = 3
    backoff_s: float = 2.0
    unreachable_poll_s: float = 5.0
    unreachable_wait_s: float = 600.0


class Attempt(BaseModel):
    problem: str | None = None  # None: restored and verified
    unreachable: bool = False


@flow(name="safety-net")
def safety_net(environment: Environment | None = None, governance: Governance | None = None, settling: Settling = Settling()) -> SafetyNetResult:
    """Settle every change whose executor died: abort it, or roll production back (see the module)."""
    environment = environment_or_default(environment)
    result = SafetyNetResult()
    services = bootstrap(environment)
    in_flight = list(every(services.records, RecordQuery(states=PRODUCTION_AT_RISK)))
    for orphan in orphans(in_flight, run_ended=flow_run_ended):
        try:
            settle(orphan, services, environment, governance, settling, result)
        except Exception as exc:  # one change that cannot be settled (e.g. a rewritten record) must not stop the others
            get_run_logger().error("%s not settled: %s", orphan.change_id, exc)
            result.failed[orphan.change_id] = f"{exc.__class__.__name__}: {exc}"
    return result


def settle(orphan: Orphan, services: Services, environment: Environment, governance: Governance | None, settling: Settling, result: SafetyNetResult) -> None:
    logger = get_run_logger()
    store = services.records
    if not orphan.production_touched:
        logger.warning("%s is orphaned (%s) before touching production: aborted", orphan.change_id, orphan.why)
        recorder = Recorder(trusted(store, orphan.change_id), store)
        free_model_lock(services, recorder.record)
        recorder.transition(State.ABORTED, f"safety net: {orphan.why} before production was touched; nothing to roll back")
        result.aborted.append(orphan.change_id)
    else:
        logger.warning("%s is orphaned (%s): rolling back", orphan.change_id, orphan.why)
        attempt = restore_with_retries(orphan, environment, settling.attempts, settling.backoff_s)
        if attempt.unreachable and not store.load(orphan.change_id).is_terminal:  # say so, then wait for it to come back
            raise_the_alarm(services, governance, orphan.change_id, f"{attempt.problem}; retrying every {settling.unreachable_poll_s:.0f}s")
            tries = max(1, int(settling.unreachable_wait_s / settling.unreachable_poll_s))
            attempt = restore_with_retries(orphan, environment, tries, settling.unreachable_poll_s, growth=1.0, until_reachable=True)
        if attempt.problem is None:
            result.rolled_back.append(orphan.change_id)
        elif store.load(orphan.change_id).is_terminal:  # settled meanwhile by another settler (a crash hook)
            logger.info("%s was settled by another run meanwhile", orphan.change_id)
        else:
            raise_the_alarm(services, governance, orphan.change_id, attempt.problem)
            result.failed[orphan.change_id] = attempt.problem
            # the dead executor's lock stays until its lease runs out: production is not settled


def restore_with_retries(orphan: Orphan, environment: Environment, attempts: int, pause_s: float, growth: float = 2.0,
                         until_reachable: bool = False) -> Attempt:
    """Run the rollback up to ``attempts`` times (``until_reachable``: stop at the first failure that is
    not production being unreachable)."""
    logger = get_run_logger()
    attempt = Attempt()
    for number in range(1, attempts + 1):
        try:
            rollback_change(orphan.change_id, environment, reason=f"safety net: {orphan.why}", free_lock=True)
            return Attempt()
        except Exception as exc:  # each try is reported; the last one's reason goes on the record
            attempt = Attempt(problem=f"{exc.__class__.__name__}: {exc}", unreachable=unreachable(exc))
            if attempt.unreachable:
                attempt.problem = f"production unreachable ({attempt.problem})"
            logger.error("rollback of %s, attempt %d of %d: %s", orphan.change_id, number, attempts, attempt.problem)
        if until_reachable and not attempt.unreachable:
            break
        if number < attempts:
            time.sleep(pause_s * growth ** (number - 1))
    return attempt


def unreachable(exc: BaseException) -> bool:
    while exc is not None:
        if isinstance(exc, ServerUnavailable):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def raise_the_alarm(services: Services, governance: Governance | None, change_id: str, problem: str) -> None:
    """The record says production needs a person; an incident change event and a Prefect event go out."""
    store = services.records
    recorder = Recorder(store.load(change_id), store)
    recorder.note(outcome=f"PRODUCTION NEEDS ATTENTION: the rollback failed ({problem}); the safety net tries again on each run")
    announce(change_id, NEEDS_ATTENTION, {"problem": problem})
    if governance is not None and governance.incident_events is not None:
        post_change_event(governance.incident_events, recorder.record, "production needs attention")

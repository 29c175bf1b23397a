"""The safety net for changes whose executor died: nobody has to run a command.

Flow hooks (``compensation.compensate_if_touched``) cover a cancelled or crashed run that can still run
code; a process killed outright runs no hooks. The ``safety-net`` flow finds such orphans by their record
and their dead executor (``services.orphans``) and *settles* each one:

- died before touching production: closed as ``aborted``;
- after: rolled back, retried with backoff; a restore that still fails leaves the record saying production
  needs attention (the net tries again on its next run, so a production server that comes back is restored
  then), sends an incident change event, and the flow reports it (``changeflow reconcile`` exits non-zero);
- meanwhile the model's lock the dead executor held is kept (no other change starts on the model), and
  it is freed as soon as production is settled, before the record says so.

Every run ends by writing a signed checkpoint of every chain head outside the record database
(``services.checkpoints``): executors then refuse a record cut short after it.

``changeflow serve`` runs it every minute and, through Prefect automations (``adapters.prefect_recovery``),
as soon as a change's flow run crashes, fails or stops sending heartbeats. ``changeflow reconcile`` runs it
by hand.
"""

from __future__ import annotations

import time

from changeflow.flows.compensation import rollback_change
from prefect import flow, get_run_logger
from pydantic import BaseModel

from changeflow.adapters.prefect import flow_run_ended, refuse_executor_parameters
from changeflow.adapters.prefect_records import announce_records
from changeflow.bootstrap import Services, bootstrap
from changeflow.domain.history import RecordQuery
from changeflow.domain.record import PRODUCTION_AT_RISK, State
from changeflow.exceptions import ServerUnavailable
from changeflow.services.audit import executor_seals, keep_executor_checkpoint, trusted
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
    checkpoint: str = ""  # the record database's newest signed checkpoint (file), or why none was written


class Settling(BaseModel):
    """How a restore is retried in one run: ``attempts`` tries, the first pause ``backoff_s`` (doubling);
    with production unreachable, one try every ``unreachable_poll_s`` for up to ``unreachable_wait_s``
    (whatever the later tries fail with: a server that just came back may not serve the model yet)."""

    attempts: int = 3
    backoff_s: float = 2.0
    unreachable_poll_s: float = 5.0
    unreachable_wait_s: float = 600.0
    lock_wait_s: float = 30.0  # when the dead executor's lease ran out: how long to wait for the model's lock


class Attempt(BaseModel):
    problem: str | None = None  # None: restored and verified
    unreachable: bool = False


@flow(name="safety-net")
def safety_net(
    environment: Environment | None = None, governance: Governance | None = None, settling: Settling = Settling()
) -> SafetyNetResult:
    """Settle every change whose executor died: abort it, or roll production back (see the module)."""
    refuse_executor_parameters(environment=environment, governance=governance)
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
    result.checkpoint = checkpoint(services, governance)
    return result


def checkpoint(services: Services, governance: Governance | None) -> str:
    """Every run ends with a signed checkpoint of every chain head, kept outside the database and sent as
    an event (``services.checkpoints``): the file, or why there is none. Never fails the run."""
    try:
        kept = keep_executor_checkpoint(services.records, governance, announce_records)
    except Exception as exc:  # a database that lost versions since the last checkpoint: said loudly, settling went on
        get_run_logger().error("no checkpoint of the record database: %s", exc)
        return f"not written: {exc}"
    return "not written: this worker holds no executor key" if kept is None else str(kept.path)


def settle(
    orphan: Orphan,
    services: Services,
    environment: Environment,
    governance: Governance | None,
    settling: Settling,
    result: SafetyNetResult,
) -> None:
    """Abort or roll back one orphan while keeping the model's lock its dead executor held: no other
    change starts on the model until production is settled, and then it is freed at once."""
    logger = get_run_logger()
    store = services.records
    record = trusted(store, orphan.change_id, executor_seals(governance))
    with services.locks.take_over(record.model, record.executor.get("lock"), settling.lock_wait_s) as lease:
        if not orphan.production_touched:
            logger.warning("%s is orphaned (%s) before touching production: aborted", orphan.change_id, orphan.why)
            services.locks.release(lease)
            Recorder(record, store).transition(
                State.ABORTED, f"safety net: {orphan.why} before production was touched; nothing to roll back"
            )
            result.aborted.append(orphan.change_id)
            return
        logger.warning("%s is orphaned (%s): rolling back", orphan.change_id, orphan.why)
        attempt = restore_with_retries(orphan, environment, lease, settling.attempts, settling.backoff_s)
        if (
            attempt.unreachable and not store.load(orphan.change_id).is_terminal
        ):  # say so, then wait for it to come back
            raise_the_alarm(
                services,
                governance,
                orphan.change_id,
                f"{attempt.problem}; retrying every {settling.unreachable_poll_s:.0f}s",
            )
            tries = max(1, int(settling.unreachable_wait_s / settling.unreachable_poll_s))
            attempt = restore_with_retries(orphan, environment, lease, tries, settling.unreachable_poll_s, growth=1.0)
            alarmed = True
        else:
            alarmed = False
        if attempt.problem is None:
            result.rolled_back.append(orphan.change_id)
        elif store.load(orphan.change_id).is_terminal:  # settled meanwhile by another settler (a crash hook)
            logger.info("%s was settled by another run meanwhile", orphan.change_id)
        else:
            raise_the_alarm(
                services, governance, orphan.change_id, attempt.problem, send=not alarmed
            )  # one alarm a run
            result.failed[orphan.change_id] = attempt.problem


def restore_with_retries(
    orphan: Orphan, environment: Environment, lease: str, attempts: int, pause_s: float, growth: float = 2.0
) -> Attempt:
    """Run the rollback up to ``attempts`` times, pausing ``pause_s`` (times ``growth`` each time) between."""
    logger = get_run_logger()
    attempt = Attempt()
    for number in range(1, attempts + 1):
        try:
            rollback_change(orphan.change_id, environment, reason=f"safety net: {orphan.why}", free_lock=lease)
            return Attempt()
        except Exception as exc:  # each try is reported; the last one's reason goes on the record
            attempt = Attempt(problem=f"{exc.__class__.__name__}: {exc}", unreachable=unreachable(exc))
            if attempt.unreachable:
                attempt.problem = f"production unreachable ({attempt.problem})"
            logger.error("rollback of %s, attempt %d of %d: %s", orphan.change_id, number, attempts, attempt.problem)
        if number < attempts:
            time.sleep(pause_s * growth ** (number - 1))
    return attempt


def unreachable(exc: BaseException) -> bool:
    while exc is not None:
        if isinstance(exc, ServerUnavailable):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def raise_the_alarm(
    services: Services, governance: Governance | None, change_id: str, problem: str, send: bool = True
) -> None:
    """The record says production needs a person; with ``send``, an incident change event and a Prefect
    event go out."""
    store = services.records
    recorder = Recorder(store.load(change_id), store)
    recorder.note(
        outcome=f"PRODUCTION NEEDS ATTENTION: the rollback failed ({problem}); the safety net tries again on each run"
    )
    if not send:
        return
    services.events.announce(change_id, NEEDS_ATTENTION, {"problem": problem})
    services.events.report(
        governance.incident_events if governance is not None else None, recorder.record, "production needs attention"
    )

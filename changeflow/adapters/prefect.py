"""Prefect as changeflow's coordinator: the per-model lock, the approval timers, how a flow run ended,
who is writing (records as artifacts: ``prefect_records``; approvals: ``prefect_approvals``).

- ``PrefectModelLocks``: a global concurrency limit of 1 per model. Measured in Prefect 3.8.8:
  acquiring a limit that does not exist logs "skipping acquisition" and serialises nothing, so the
  limit is created first and acquired with ``strict=True``. The slot is a lease the holder renews; its
  ID goes on the change record, so whoever settles a change whose executor died frees the model at once
  instead of waiting for the lease to run out.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency._leases import maintain_concurrency_lease
from prefect.concurrency._sync import acquire_concurrency_slots_with_lease, release_concurrency_slots_with_lease
from prefect.context import FlowRunContext
from prefect.events import emit_event
from prefect.exceptions import ObjectAlreadyExists

from changeflow.adapters.prefect_records import change_resource


def run_origin() -> tuple[bool, dict]:
    """(created from a deployment?, the run's own job variables) of the current flow run. Prefect gives a
    subflow called in-process no deployment; a parent task run proves nothing (anyone creating a run
    through the API can name one), so it is not looked at."""
    run = FlowRunContext.get()
    if run is None or run.flow_run is None:
        return False, {}
    return run.flow_run.deployment_id is not None, dict(run.flow_run.job_variables or {})


def refuse_executor_parameters(**given: object) -> None:
    """A housekeeping flow (safety net, maintenance window, drift check, rollback) run from a deployment
    takes no environment or governance of the run's: ``ChangeStateError`` before anything is read."""
    from changeflow.domain.separation import run_refusal
    from changeflow.exceptions import ChangeStateError

    from_deployment, job_variables = (
        run_origin()
    )  # in-process, these flows are called by the executor's own code with its own settings
    if (
        refused := run_refusal(not from_deployment, {k: v is not None for k, v in given.items()}, job_variables)
    ) is not None:
        raise ChangeStateError(refused)


def writer_identity() -> str:
    """Who is saving a record: the flow run when there is one, and always the user, host and process."""
    where = f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()}"
    run = FlowRunContext.get()
    return f"flow run {run.flow_run.name} ({run.flow_run.id}) as {where}" if run and run.flow_run else where


# --- one change per model ------------------------------------------------------------------------


def limit_name(model: str) -> str:
    return "changeflow-model-" + re.sub(r"[^a-z0-9-]", "-", model.lower())


class PrefectModelLocks:
    """A Prefect global concurrency limit of 1 per model, created before use, held as a renewed lease."""

    LEASE_S = 60.0  # how long a dead holder nobody settles keeps the model (renewed while it lives)

    def _ensure(self, name: str) -> None:
        from prefect.exceptions import ObjectNotFound

        with get_client(sync_client=True) as client:
            try:
                client.read_global_concurrency_limit_by_name(name)
            except ObjectNotFound:
                try:
                    client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
                except ObjectAlreadyExists:  # created meanwhile by another change
                    pass

    @contextmanager
    def hold(self, model: str, timeout_s: float) -> Iterator[str]:
        """Hold the model's change slot; waits up to ``timeout_s`` for another change to finish. Yields
        the lease ID (``release`` frees it from another process). A lease lost while held (the safety net
        judged this process dead and took over) stops the block: two actors never change one model."""
        name = limit_name(model)
        self._ensure(name)
        acquired = acquire_concurrency_slots_with_lease(
            [name], 1, timeout_seconds=timeout_s, strict=True, lease_duration=self.LEASE_S
        )
        with self._keep(acquired.lease_id) as lease:
            yield lease

    @contextmanager
    def _keep(self, lease_id) -> Iterator[str]:
        """A granted slot renewed for the block (losing it stops the block), released after."""
        try:
            with maintain_concurrency_lease(lease_id, self.LEASE_S, raise_on_lease_renewal_failure=True):
                yield str(lease_id)
        finally:
            self.release(str(lease_id))

    @contextmanager
    def hold_if_free(self, model: str) -> Iterator[str | None]:
        """Hold the model's slot for the block if nobody holds it, else yield None at once. One attempt, no
        waiting: an acquisition given up on by a timeout can still be granted on the server afterwards, and
        that slot then stays taken until its lease runs out (measured with Prefect 3.8.8)."""
        from prefect.concurrency._asyncio import ConcurrencySlotAcquisitionError

        name = limit_name(model)
        self._ensure(name)
        try:
            acquired = acquire_concurrency_slots_with_lease(
                [name], 1, max_retries=0, strict=True, lease_duration=self.LEASE_S
            )
        except ConcurrencySlotAcquisitionError as exc:
            if (
                getattr(getattr(exc.__cause__, "response", None), "status_code", None) != 423
            ):  # 423 Locked: held by another
                raise
            yield None
            return
        with self._keep(acquired.lease_id) as lease:
            yield lease

    @contextmanager
    def take_over(self, model: str, lease: str | None, timeout_s: float) -> Iterator[str]:
        """Keep a dead holder's slot for the block (renewing its lease), so no other change starts on the
        model while the safety net settles it; when that lease already ran out, hold the slot anew."""
        from uuid import UUID

        try:
            if not lease:
                raise ValueError("no lease on record")
            with get_client(sync_client=True) as client:
                client.renew_concurrency_lease(UUID(lease), self.LEASE_S)
        except Exception:  # gone (expired, released) or never recorded
            with self.hold(model, timeout_s) as fresh:
                yield fresh
            return
        try:
            with maintain_concurrency_lease(UUID(lease), self.LEASE_S, suppress_warnings=True):
                yield lease
        finally:
            self.release(lease)

    def release(self, lease: str) -> None:
        """Free a held slot by its lease ID. Never raises: a slot that cannot be freed now is freed when
        its lease runs out (a minute), and the caller's own outcome must not be lost over it."""
        import logging
        import time
        from uuid import UUID

        for attempt in range(3):  # a busy server (SQLite: "database is locked") answers 500 now and then
            try:
                release_concurrency_slots_with_lease(UUID(lease))
                return
            except Exception as exc:
                problem = exc
                time.sleep(0.5 * 2**attempt)
        logging.getLogger("changeflow.locks").warning(
            "lease %s not released (%s); it runs out within %.0fs", lease, problem, self.LEASE_S
        )


def run_name(change_id: str, flow_name: str) -> str:
    """``CHG-0042-normal-change``: how a paused change is found."""
    return f"{change_id}-{flow_name}"


def change_run_name() -> str:
    """``flow_run_name`` of every flow that runs one change (``CHG-0042-normal-change``,
    ``CHG-0042-model-deployment``): a paused one, wherever it pauses, is found by the change ID."""
    from prefect.runtime import flow_run

    request = flow_run.parameters["request"]
    return run_name(request["id"] if isinstance(request, dict) else request.id, flow_run.flow_name)


def overdue_notice(change_id: str, after_s: float, payload: dict, also=None) -> threading.Timer:
    """Emits ``changeflow.approval.overdue`` (for automations) after ``after_s``, and calls ``also()`` (the
    approvers' notification); cancel it when decided."""

    def overdue() -> None:
        emit_event(event="changeflow.approval.overdue", resource=change_resource(change_id), payload=payload)
        if also is not None:
            also()

    timer = threading.Timer(after_s, overdue)
    timer.daemon = True
    timer.start()
    return timer


def announce(change_id: str, what: str, payload: dict) -> None:
    """A ``changeflow.change.<what>`` event about one change (automations and the UI's event feed see it)."""
    emit_event(event=f"changeflow.change.{what}", resource=change_resource(change_id), payload=payload)


def flow_run_ended(flow_run_id: str) -> str | None:
    """How a flow run ended (``crashed``, ``failed``, …), or None while it has not."""
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(flow_run_id).state
    return state.type.value.lower() if state is not None and state.is_final() else None

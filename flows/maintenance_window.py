"""The maintenance-window flow: when a planned maintenance window opens, run the changes that were
approved and scheduled into it (a governed flow hands such changes off instead of waiting days).

``maintenance_runs`` lists when it should run: one flow run at the start of each upcoming window.
"""

from __future__ import annotations

import time
from datetime import datetime

from changeflow.flows.governed import execute_scheduled
from changeflow.flows.lifecycle import executor_run
from prefect import flow, get_run_logger
from pydantic import BaseModel

from changeflow.adapters.prefect import refuse_executor_parameters
from changeflow.adapters.prefect_recovery import start_safety_net
from changeflow.bootstrap import bootstrap
from changeflow.domain.history import RecordQuery
from changeflow.domain.policy import WindowClass
from changeflow.domain.record import ChangeResult, State
from changeflow.domain.windows import Calendar, Slot
from changeflow.exceptions import InvalidSettings, RecordTampered
from changeflow.kinds import plan_for
from changeflow.services.recorder import Recorder, utc_now
from changeflow.services.records import every
from changeflow.settings.defaults import environment_or_default, governance_or_default
from changeflow.settings.environment import Environment
from changeflow.settings.governance import Governance


class WindowResult(BaseModel):
    window: str
    results: list[ChangeResult] = []
    refused: dict[str, str] = {}  # change ID -> why no executor acts on it (a record that does not verify)


def maintenance_runs(calendar: Calendar, now: datetime) -> list[tuple[str, datetime]]:
    """(window name, start) for each maintenance window still to open."""
    return sorted(((m.name, m.start) for m in calendar.maintenance if m.start > now), key=lambda run: run[1])


@flow(name="maintenance-window", on_crashed=[start_safety_net])
def maintenance_window(
    window: str, environment: Environment | None = None, governance: Governance | None = None
) -> WindowResult:
    """Run the changes scheduled into maintenance window ``window``; started early, it waits for the window
    to open (a change never runs before its window). Settings default to the environment file's."""
    refuse_executor_parameters(environment=environment, governance=governance)
    services, governance = bootstrap(environment_or_default(environment)), governance_or_default(governance)
    run = executor_run(services, governance, utc_now(), None)
    logger = get_run_logger()
    span = next((m for m in governance.calendar.maintenance if m.name == window), None)
    if span is None:
        known = ", ".join(m.name for m in governance.calendar.maintenance) or "none"
        raise InvalidSettings(
            "maintenance-window",
            "window",
            f"no maintenance window named {window!r} in the calendar",
            f"use one of: {known}",
        )
    if (early := (span.start - utc_now()).total_seconds()) > 0:
        logger.info("window %s opens in %.0f s: waiting", window, early)
        time.sleep(early)
    store = services.records
    due = list(
        every(store, RecordQuery(states=frozenset({State.SCHEDULED}), slot_from=span.start, slot_until=span.end))
    )
    logger.info("maintenance window %s: %d change(s) scheduled", window, len(due))
    result = WindowResult(window=window)
    for record in sorted(due, key=lambda r: r.slot_start):
        if utc_now() >= span.end:
            logger.warning("window %s closed before %s could run; it stays scheduled", window, record.id)
            break
        slot = Slot(
            start=record.slot_start, end=record.slot_end, window=WindowClass.PLANNED_MAINTENANCE, window_name=window
        )
        plan = plan_for(record.request, record.risk)
        try:
            result.results.append(execute_scheduled(Recorder(record, store), run, record.request, plan, slot))
        except RecordTampered as exc:
            logger.error("refused: %s", exc)
            result.refused[record.id] = str(exc)
    return result

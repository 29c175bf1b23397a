"""The maintenance-window flow: when a planned maintenance window opens, run the changes that were
approved and scheduled into it (a governed flow hands such changes off instead of waiting days).

``maintenance_runs`` lists when it should run: one flow run at the start of each upcoming window.
"""

from __future__ import annotations

from datetime import datetime

from prefect import flow, get_run_logger
from pydantic import BaseModel

from changeflow.adapters.factory import record_store
from changeflow.domain.plan import plan_change
from changeflow.domain.policy import WindowClass
from changeflow.domain.types import State
from changeflow.domain.windows import Calendar, Slot
from changeflow.environment import Environment
from changeflow.governance import Governance
from changeflow.recorder import Recorder, utc_now
from changeflow.results import ChangeResult
from flows.execution import execute_scheduled


class WindowResult(BaseModel):
    window: str
    results: list[ChangeResult] = []


def maintenance_runs(calendar: Calendar, now: datetime) -> list[tuple[str, datetime]]:
    """(window name, start) for each maintenance window still to open."""
    return sorted(((m.name, m.start) for m in calendar.maintenance if m.start > now), key=lambda run: run[1])


@flow(name="maintenance-window")
def maintenance_window(window: str, environment: Environment | None = None, governance: Governance | None = None) -> WindowResult:
    """Run the changes scheduled into maintenance window ``window`` (settings default to the site's)."""
    from changeflow.site import load_rules, load_site

    environment, governance = load_site(environment), load_rules(governance)
    logger = get_run_logger()
    span = next((m for m in governance.calendar.maintenance if m.name == window), None)
    if span is None:
        raise ValueError(f"no maintenance window named {window!r} in the calendar")
    store = record_store(environment.records)
    due = [r for r in store.list() if r.state is State.SCHEDULED and r.slot_start and span.start <= r.slot_start < span.end]
    logger.info("maintenance window %s: %d change(s) scheduled", window, len(due))
    result = WindowResult(window=window)
    for record in sorted(due, key=lambda r: r.slot_start):
        if utc_now() >= span.end:
            logger.warning("window %s closed before %s could run; it stays scheduled", window, record.id)
            break
        recorder = Recorder(record, store)
        slot = Slot(start=record.slot_start, end=record.slot_end, window=WindowClass.PLANNED_MAINTENANCE, window_name=window)
        result.results.append(execute_scheduled(recorder, record.request, environment, governance, plan_change(record.request, record.risk), slot))
    return result

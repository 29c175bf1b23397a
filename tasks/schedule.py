"""Schedule: the earliest slot the change may run in, for its type and risk, or why there is none."""

import time
from datetime import datetime, timedelta

from prefect import get_run_logger, task

from changeflow.domain.request import ChangeRequest
from changeflow.domain.types import Risk
from changeflow.domain.windows import Calendar, NoSlot, Slot, find_slot
from changeflow.recorder import Recorder
from tasks._common import NO_RETRY


@task(name="schedule", **NO_RETRY)
def schedule(recorder: Recorder, calendar: Calendar, request: ChangeRequest, risk: Risk, now: datetime, minutes: int) -> Slot | NoSlot:
    slot = find_slot(
        calendar, request.type, risk, now, timedelta(minutes=minutes), not_before=request.window.not_before, deadline=request.window.deadline
    )
    if isinstance(slot, Slot):
        recorder.note(slot_start=slot.start, slot_end=slot.end)
        get_run_logger().info("slot %s – %s in %s%s", slot.start, slot.end, slot.window_name, f"; {slot.freeze_override}" if slot.freeze_override else "")
    else:
        get_run_logger().warning("no slot: %s", slot.reason)
    return slot


@task(name="wait-for-slot", **NO_RETRY)
def wait_for_slot(slot: Slot, now: datetime, chunk_s: float = 30.0) -> None:
    """Sleep until the slot opens (``now`` is the scheduling clock; the wait is real time)."""
    remaining = (slot.start - now).total_seconds()
    if remaining > 0:
        get_run_logger().info("waiting %.0f s for the window %s to open", remaining, slot.window_name)
    deadline = time.monotonic() + max(0.0, remaining)
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(chunk_s, left))

"""The orphan finder of the safety net: changes left mid-flight after touching production.

A change is *orphaned* when its record is ``executing`` or ``verifying`` with production touched, and
its executor is gone: its flow run, or the root run it is a subflow of, ended without closing it
(crashed, cancelled, failed), or its process on this host no longer exists (killed outright: no hook ran). The ``safety-net`` flow (run on a
schedule, or by ``changeflow reconcile``) rolls each one back; one that died before touching production
is closed as ``aborted`` (it would otherwise stay ``executing`` forever).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

from pydantic import BaseModel

from changeflow.domain.record import PRODUCTION_AT_RISK, ChangeRecord


class Orphan(BaseModel):
    change_id: str
    why: str
    production_touched: bool = True  # False: nothing to roll back, the change is only closed as aborted


def process_gone(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError):
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def first_ended(run_ended: Callable[[str], str | None], *flow_run_ids: str | None) -> str | None:
    """How the first of these runs ended (the change's own run, then the root a worker crashed), or None."""
    for flow_run_id in dict.fromkeys(i for i in flow_run_ids if i):
        if ended := run_ended(flow_run_id):
            return ended
    return None


def orphans(
    records: list[ChangeRecord], run_ended: Callable[[str], str | None], gone: Callable[[str], bool] = process_gone
) -> list[Orphan]:
    """``run_ended(flow_run_id)`` says how the executor's flow run ended, or None while it runs."""
    found = []
    for record in records:
        if record.state not in PRODUCTION_AT_RISK:
            continue
        executor = record.executor
        if executor.get("host") == socket.gethostname() and executor.get("pid") and gone(executor["pid"]):
            why = f"its executor (pid {executor['pid']}) is gone"
        elif ended := first_ended(run_ended, executor.get("flow_run_id"), executor.get("root_flow_run_id")):
            why = f"its flow run ended {ended} without closing the change"
        else:
            continue
        found.append(Orphan(change_id=record.id, why=why, production_touched=record.production_touched))
    return found

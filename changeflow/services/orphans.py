"""The orphan finder of the safety net: changes left mid-flight after touching production.

A change is *orphaned* when its record is ``executing`` or ``verifying`` with production touched, and
its executor is gone: its flow run ended without closing it (crashed, cancelled, failed), or its
process on this host no longer exists (killed outright: no hook ran). The ``safety-net`` flow (run on a
schedule, or by ``changeflow reconcile``) rolls each one back.
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


def orphans(records: list[ChangeRecord], run_ended: Callable[[str], str | None], gone: Callable[[str], bool] = process_gone) -> list[Orphan]:
    """``run_ended(flow_run_id)`` says how the executor's flow run ended, or None while it runs."""
    found = []
    for record in records:
        if record.state not in PRODUCTION_AT_RISK or not record.production_touched:
            continue
        executor = record.executor
        if executor.get("host") == socket.gethostname() and executor.get("pid") and gone(executor["pid"]):
            found.append(Orphan(change_id=record.id, why=f"its executor (pid {executor['pid']}) is gone"))
        elif executor.get("flow_run_id") and (ended := run_ended(executor["flow_run_id"])):
            found.append(Orphan(change_id=record.id, why=f"its flow run ended {ended} without closing the change"))
    return found

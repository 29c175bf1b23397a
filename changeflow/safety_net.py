"""The safety net: changes left mid-flight after touching production are rolled back.

A change is *orphaned* when its record is ``executing`` or ``verifying`` with production touched, and
its executor is gone: its flow run ended without closing it (crashed, cancelled, failed), or its
process on this host no longer exists (killed outright: no hook ran). ``reconcile`` runs the rollback
subflow for each; run it on a schedule or from an automation (``changeflow reconcile``).
"""

from __future__ import annotations

import os
import socket

from pydantic import BaseModel

from changeflow.domain.lifecycle import PRODUCTION_AT_RISK
from changeflow.domain.record import ChangeRecord


class Orphan(BaseModel):
    change_id: str
    why: str


def _process_gone(pid: str) -> bool:
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


def _run_ended(flow_run_id: str) -> str | None:
    if not flow_run_id:
        return None
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        state = client.read_flow_run(flow_run_id).state
    if state is not None and state.is_final():
        return f"its flow run ended {state.type.value.lower()} without closing the change"
    return None


def orphans(records: list[ChangeRecord]) -> list[Orphan]:
    found = []
    for record in records:
        if record.state not in PRODUCTION_AT_RISK or not record.production_touched:
            continue
        executor = record.executor
        if executor.get("host") == socket.gethostname() and executor.get("pid") and _process_gone(executor["pid"]):
            found.append(Orphan(change_id=record.id, why=f"its executor (pid {executor['pid']}) is gone"))
        elif why := _run_ended(executor.get("flow_run_id", "")):
            found.append(Orphan(change_id=record.id, why=why))
    return found

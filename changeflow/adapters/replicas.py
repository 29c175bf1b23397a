"""What a fleet's replicas did, one by one: their outcomes, the error that names the ones that failed, the
lane each replica's calls go through, and their counters summed. Used by ``adapters.fleet``."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from changeflow.domain.serving import MetricsSnapshot, VersionCounters
from changeflow.exceptions import ModelLoadError
from changeflow.ports import ModelServer


class FleetLoadError(ModelLoadError):
    """Some replicas did not load what the repository says; ``outcomes`` says what each one did."""

    def __init__(self, message: str, outcomes: Sequence[ReplicaOutcome]) -> None:
        super().__init__(message)
        self.outcomes = tuple(outcomes)


@dataclass(frozen=True)
class ReplicaOutcome:
    replica: str
    ok: bool
    detail: str
    unreachable: bool = False


@dataclass(frozen=True)
class Rollout:
    """What a fleet load did: the repository's text before (kept on the record for the rollback) and after,
    and each replica's outcome."""

    model: str
    versions: tuple[int, ...]
    previous_text: str | None
    written: bool  # False: the file already said so (or the fleet keeps no repository)
    outcomes: tuple[ReplicaOutcome, ...]
    swap_ms: float = 0.0  # from asking the replicas to every replica serving the versions

    def summary(self) -> str:
        where = "written to the repository and " if self.written else ""
        if not self.written and self.previous_text is not None:
            where = "as the repository already said, "
        return f"{self.model} {list(self.versions)} {where}loaded on every replica ({outcome_line(self.outcomes)})"


def outcome_line(outcomes: Sequence[ReplicaOutcome]) -> str:
    return "; ".join(f"{o.replica}: {o.detail}" for o in outcomes)


_LANES: weakref.WeakKeyDictionary[ModelServer, ThreadPoolExecutor] = weakref.WeakKeyDictionary()
_LANES_LOCK = threading.Lock()


def lane(replica: ModelServer) -> ThreadPoolExecutor:
    """One long-lived thread per replica: its connection stays open between calls (a thread per call made a
    rollback of three replicas three times slower than the same loads sent by hand). Held as long as the
    replica is: a server object dropped takes its thread with it."""
    with _LANES_LOCK:
        lane = _LANES.get(replica)
        if lane is None:
            lane = _LANES[replica] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"replica-{replica.name}")
        return lane


def summed(snapshots: Sequence[MetricsSnapshot]) -> tuple[VersionCounters, ...]:
    totals: dict[tuple[str, int], dict] = {}
    for snapshot in snapshots:
        for counters in snapshot.counters:
            row = totals.setdefault((counters.model, counters.version), {"failure_by_reason": {}})
            for name in _SUMMED:
                row[name] = row.get(name, 0.0) + getattr(counters, name)
            for reason, value in counters.failure_by_reason.items():
                row["failure_by_reason"][reason] = row["failure_by_reason"].get(reason, 0.0) + value
    return tuple(VersionCounters(model=m, version=v, **row) for (m, v), row in sorted(totals.items()))


_SUMMED = [name for name, info in VersionCounters.model_fields.items() if info.annotation is float]

"""Benchmark: how soon a change made outside changeflow is on record. The drift check runs as
``changeflow serve`` deploys it (a scheduled deployment on a process worker) every ``INTERVAL_S``;
versions of the production model are loaded by hand through Triton's repository API at random moments,
each a new drift, and the seconds from the load to its unauthorized record are measured.

    make bench-drift        (or: .venv/bin/python bench/drift.py [INTERVAL_S [TRIALS]])

Prints progress, then one JSON line: {"interval_s", "trials", "detected", "max_s", "p50_s", "bound_s",
"within_bound", "false_records"}. Target: every load detected, ``max_s`` <= ``bound_s`` = interval + 2 s.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

import httpx  # noqa: E402

from changeflow.adapters.triton import config_to_json, with_versions  # noqa: E402
from changeflow.bootstrap import bootstrap  # noqa: E402
from changeflow.domain.history import RecordQuery  # noqa: E402
from changeflow.domain.record import Unrequested  # noqa: E402
from changeflow.local import drills  # noqa: E402
from changeflow.local.triton_server import TritonServer  # noqa: E402
from changeflow.services.records import every  # noqa: E402
from changeflow.settings import paths  # noqa: E402
from changeflow.settings.environment import Environment, RecordStoreSettings  # noqa: E402
from changeflow.settings.loader import load_governance  # noqa: E402

MODEL = "classifier"
HAND_LOADS = [
    [1, 2],
    [1, 3],
    [1, 2],
    [2],
    [1, 3],
    [2, 3],
    [1, 2],
    [3],
    [1, 2],
    [2],
]  # each differs from the one before: a new drift


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def drifts(store) -> dict[str, datetime]:
    return {r.id: r.transitions[0].at for r in every(store, RecordQuery(types=frozenset({Unrequested.UNAUTHORIZED})))}


def load_by_hand(server, versions: list[int]) -> datetime:
    """What `curl` against the repository API does; returns when Triton answered."""
    body = {"parameters": {"config": config_to_json(with_versions(server.model_config(MODEL), versions))}}
    response = httpx.post(f"{server.http_url}/v2/repository/models/{MODEL}/load", json=body, timeout=60)
    response.raise_for_status()
    return datetime.now(timezone.utc)


def main(interval_s: int = 10, trials: int = 8) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from changeflow.local.prefect_server import LocalPrefectServer

    say(
        f"starting a production Triton, a Prefect server (with its scheduler), a worker and the drift check every {interval_s}s …"
    )
    scratch = tempfile.mkdtemp(prefix="changeflow-bench-")
    (Path(scratch) / "prefect").mkdir()
    with (
        tempfile.TemporaryDirectory(dir=scratch) as _,
        TritonServer(
            paths.MODEL_REPOSITORY, name="drift-production", copy_repository=True, load_models=[MODEL]
        ) as production,
        TritonServer(paths.MODEL_REPOSITORY, name="drift-staging", copy_repository=True) as staging,
        LocalPrefectServer(home=Path(scratch) / "prefect") as prefect,
        temporary_settings(updates={PREFECT_API_URL: prefect.api_url}),
    ):
        environment = Environment(
            production=production.endpoint("production"),
            staging=staging.endpoint("staging"),
            records=RecordStoreSettings(url=f"sqlite:///{Path(scratch) / 'records.db'}", publish=False),
        )
        governance = load_governance(paths.EXAMPLES)
        services = bootstrap(environment)
        with drills.Installation(environment, governance, drift_every_s=interval_s):
            deadline = time.monotonic() + 120
            while not any(True for _ in every(services.records, RecordQuery(types=frozenset({Unrequested.BASELINE})))):
                if time.monotonic() > deadline:
                    raise SystemExit("the drift check adopted no baseline in 120 s: is the worker running?")
                time.sleep(0.5)
            say("baseline adopted; loading versions by hand")
            delays: list[float | None] = []
            rng = random.Random(7)
            for number in range(trials):
                time.sleep(rng.uniform(0, interval_s))  # a random moment of the check's cycle
                known = drifts(services.records)
                loaded_at = load_by_hand(services.production, HAND_LOADS[number % len(HAND_LOADS)])
                found, limit = None, time.monotonic() + interval_s * 3 + 30
                while found is None and time.monotonic() < limit:
                    new = {k: v for k, v in drifts(services.records).items() if k not in known}
                    found = min(new.values()) if new else None
                    time.sleep(0.1)
                delay = (found - loaded_at).total_seconds() if found else None
                delays.append(delay)
                say(
                    f"  load {number + 1}: {HAND_LOADS[number % len(HAND_LOADS)]} on record after {delay:.2f}s"
                    if delay is not None
                    else f"  load {number + 1}: NOT DETECTED"
                )
            total = len(drifts(services.records))
    shutil.rmtree(scratch, ignore_errors=True)
    seen = [d for d in delays if d is not None]
    bound = interval_s + 2.0
    print(
        json.dumps(
            {
                "interval_s": interval_s,
                "trials": trials,
                "detected": len(seen),
                "max_s": round(max(seen), 2) if seen else None,
                "p50_s": round(statistics.median(seen), 2) if seen else None,
                "bound_s": bound,
                "within_bound": sum(d <= bound for d in seen),
                "false_records": total - len(seen),
            }
        )
    )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))

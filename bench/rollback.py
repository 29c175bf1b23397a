"""Benchmark: rollback speed, failed requests during promote and rollback, time to detect a bad version,
and false rollbacks over healthy bakes — all under steady client load on real local Tritons.

    make bench        (or: .venv/bin/python bench/rollback.py [--healthy-bakes 20])

Prints progress, then one JSON line (the last line):
{"raw_warm_swap_ms", "raw_cold_swap_ms", "warm_rollback_ms", "cold_rollback_ms", "requests",
 "failed_requests", "detect_s", "false_rollbacks", "healthy_bakes", "bad_version_outcome", "no_rollback_because", ...}
``failed_requests`` counts every failed client request except the failures v4 injects on purpose. v4 fails at
random, so staging may catch it before production serves it: then nothing was rolled back, ``warm_rollback_ms``
and ``detect_s`` are null and ``no_rollback_because`` says why (a missing sample is not a zero).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from datetime import timezone
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # quiet Prefect for this benchmark's process only: an importer (a test session whose
    # workers log at INFO, bench/fleet.py with its own settings) keeps its environment
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from changeflow import State  # noqa: E402
from changeflow.adapters.triton import with_versions  # noqa: E402
from changeflow.bootstrap import bootstrap  # noqa: E402
from changeflow.domain.record import ChangeRecord, ChangeResult  # noqa: E402
from changeflow.local.client_load import ClientLoad  # noqa: E402
from changeflow.local.triton_server import TritonServer  # noqa: E402
from changeflow.settings import paths  # noqa: E402
from changeflow.settings.environment import BakeSettings, Environment, RecordStoreSettings  # noqa: E402
from changeflow.settings.loader import load_change_request  # noqa: E402

INJECTED = "injected failure"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def deployment(change_id: str, old: int, new: int, bake_seconds: int):
    base = load_change_request(paths.CHANGES / "normal-deploy-v2.yaml")
    change = base.change.model_copy(update={"from_version": old, "to_version": new, "bake_seconds": bake_seconds})
    return base.model_copy(update={"id": change_id, "change": change})


def timed_ms(action) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000.0


def raw_swaps(production, store, rounds: int = 3) -> tuple[float, float]:
    """Direct repository-API swaps, no changeflow logic: warm ([1,2] → [1]) and cold ([1] → [2])."""
    config = store.read_config("classifier")
    warm, cold = [], []
    for _ in range(rounds):
        production.load("classifier", with_versions(config, [1, 2]))
        warm.append(timed_ms(lambda: production.load("classifier", with_versions(config, [1]))))
        cold.append(timed_ms(lambda: production.load("classifier", with_versions(config, [2]))))
        production.load("classifier", with_versions(config, [1]))
    return statistics.median(warm), statistics.median(cold)


def cold_rollback(environment: Environment, production, change_id: str) -> float | None:
    """A change whose previous version is no longer loaded (promoted without standby), rolled back by the project."""
    from changeflow.flows.compensation import open_for_execution, rollback_change

    request = deployment(change_id, 1, 2, 1)
    recorder = open_for_execution(request, bootstrap(environment), None)
    recorder.note(serving_version_before=1, production_touched=True)
    production.load_versions("classifier", [2])
    recorder.transition(State.VERIFYING, "benchmark: v2 serving alone, v1 unloaded")
    result = rollback_change(change_id, environment, reason="benchmark: cold rollback")
    return result.rollback_ms


def rounded(value: float | None, digits: int) -> float | None:
    """A measured figure for the JSON line; a missing or non-finite one is null (JSON has no NaN)."""
    return round(value, digits) if value is not None and math.isfinite(value) else None


def no_rollback_because(result: ChangeResult) -> str | None:
    """Why a change has no rollback time (None when it has one): one not rolled back has nothing to time."""
    if result.rollback_ms is not None:
        return None
    if result.state is State.ABORTED:
        return f"{result.change_id} was aborted before production was touched ({result.outcome}): nothing to roll back"
    return f"{result.change_id} ended {result.state.value} ({result.outcome}) with no rollback time measured"


def rollback_line(result: ChangeResult) -> str:
    """The progress line of a change expected to roll back, whether or not it did."""
    timed = f"rollback {result.rollback_ms:.1f} ms" if result.rollback_ms is not None else no_rollback_because(result)
    return f"  {result.change_id}: {result.state}, {timed}"


def seconds_to_detect(injected_at: list[float], record: ChangeRecord) -> float | None:
    """From v4's first injected failure in production to the end of the bake step that caught it; None when
    production never served v4 (staging caught it) or no bake step ended."""
    steps = record.verification_steps
    if not injected_at or not steps or steps[-1].ended_at is None:
        return None
    return steps[-1].ended_at.replace(tzinfo=timezone.utc).timestamp() - min(injected_at)


def summary(
    *,
    raw_swaps_ms: tuple[float, float],
    bad: ChangeResult,
    cold_rollback_ms: float | None,
    requests: int,
    failed_requests: int,
    injected_failures_seen: int,
    detect_s: float | None,
    false_rollbacks: int,
    healthy_bakes: int,
) -> dict[str, Any]:
    """The bench's JSON line: every key always present, a figure not measured null beside the reason."""
    return {
        "raw_warm_swap_ms": rounded(raw_swaps_ms[0], 2),
        "raw_cold_swap_ms": rounded(raw_swaps_ms[1], 1),
        "warm_rollback_ms": rounded(bad.rollback_ms, 2),
        "cold_rollback_ms": rounded(cold_rollback_ms, 1),
        "requests": requests,
        "failed_requests": failed_requests,
        "injected_failures_seen": injected_failures_seen,
        "detect_s": rounded(detect_s, 2),
        "false_rollbacks": false_rollbacks,
        "healthy_bakes": healthy_bakes,
        "bad_version_outcome": bad.state.value,
        "no_rollback_because": no_rollback_because(bad),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--healthy-bakes", type=int, default=20)
    parser.add_argument("--bake-seconds", type=int, default=3)
    args = parser.parse_args()

    from changeflow.flows.model_deployment import model_deployment
    from prefect.testing.utilities import prefect_test_harness

    say("starting production and staging Tritons and a Prefect test server …")
    with (
        tempfile.TemporaryDirectory(prefix="changeflow-bench-") as scratch,
        TritonServer(
            paths.MODEL_REPOSITORY, name="bench-production", copy_repository=True, load_models=["classifier"]
        ) as prod_server,
        TritonServer(paths.MODEL_REPOSITORY, name="bench-staging", copy_repository=True) as staging_server,
        prefect_test_harness(server_startup_timeout=60),
    ):
        environment = Environment(
            production=prod_server.endpoint("production"),
            staging=staging_server.endpoint("staging"),
            records=RecordStoreSettings(url=f"sqlite:///{Path(scratch) / 'records.db'}", publish=False),
            bake=BakeSettings(interval_s=0.5, probes_per_sample=20, smoke_requests=10),
        )
        services = bootstrap(environment)
        production, store = services.production, services.config_store()
        with ClientLoad(prod_server.http_url, deployment("CHG-0000", 1, 2, 1).change.golden_set, threads=4) as load:
            say("raw Triton swaps …")
            raw_warm_ms, raw_cold_ms = raw_swaps(production, store)

            say(f"{args.healthy_bakes} healthy deployments of v2 (from v1), each with a {args.bake_seconds}s bake …")
            false_rollbacks = 0
            for i in range(args.healthy_bakes):
                production.load(
                    "classifier", with_versions(store.read_config("classifier"), [1])
                )  # reset, not a change
                result = model_deployment(deployment(f"CHG-{1000 + i}", 1, 2, args.bake_seconds), environment)
                false_rollbacks += result.state is not State.CLOSED
                say(
                    f"  CHG-{1000 + i}: v1 → v2: {result.state}"
                    + ("" if result.state is State.CLOSED else f" ({result.outcome})")
                )

            say("deploying v4 from v2 (fails 10% of requests once warm) …")
            production.load("classifier", with_versions(store.read_config("classifier"), [2]))
            promoted_at = time.time()
            bad = model_deployment(deployment("CHG-2000", 2, 4, 30), environment)
            say(rollback_line(bad))

            say("cold rollback (previous version unloaded) …")
            production.load_versions("classifier", [1])
            cold_ms = cold_rollback(environment, production, "CHG-3000")
            say(
                f"  CHG-3000: cold rollback {cold_ms:.1f} ms"
                if cold_ms is not None
                else "  CHG-3000: cold rollback not timed"
            )

        injected = [t for t, message in load.failures if INJECTED in message and t >= promoted_at]
        other = [m for _, m in load.failures if INJECTED not in m]
        if other:
            say(f"unexpected failures, first: {other[0]}")
        report = summary(
            raw_swaps_ms=(raw_warm_ms, raw_cold_ms),
            bad=bad,
            cold_rollback_ms=cold_ms,
            requests=load.requests,
            failed_requests=len(other),
            injected_failures_seen=len(injected),
            detect_s=seconds_to_detect(injected, services.records.load("CHG-2000")),
            false_rollbacks=false_rollbacks,
            healthy_bakes=args.healthy_bakes,
        )
    print(json.dumps(report, allow_nan=False))


if __name__ == "__main__":
    main()

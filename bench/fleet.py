"""Benchmark: a fleet of real Tritons behind a real load balancer (haproxy), under client load through it.

    make bench-fleet        (or: .venv/bin/python bench/fleet.py [--replicas 3])

Measures, on N replicas over one repository folder:
- ``rollback_ms``: the project's restore of v1 on every replica in a change the bake rolled back (median
  of ``--rollbacks`` changes, 3 by default, each under the bake's load too; every sample in
  ``rollback_ms_samples``), ``fleet_restore_ms`` the same restore alone (median of 5), beside
  ``raw_parallel_swap_ms``, the same loads sent by hand to every replica at once (median of 3);
- ``requests`` / ``failed_requests``: client requests through the load balancer during the promotes and
  rollbacks, and those that failed except the failures v4 injects on purpose (target 0);
- ``restart_converged_s``: a replica SIGKILLed after a closed change, started again with the same command
  line, until it serves the approved version;
- ``canary_share``: the share of client answers given by the known-bad v4 between its promote and its
  rollback, promoted in waves [1, "100%"] (it is caught in the first wave), beside ``everywhere_share``,
  the same for v4 promoted to every replica at once.

Prints progress, then one JSON line (the last line).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from rollback import deployment, no_rollback_because, rollback_line, rounded, say  # noqa: E402  (bench/: the same requests)

from changeflow import State  # noqa: E402
from changeflow.bootstrap import bootstrap, model_server  # noqa: E402
from changeflow.domain.model_config import with_versions  # noqa: E402
from changeflow.domain.request import ChangeType  # noqa: E402
from changeflow.local.client_load import ClientLoad  # noqa: E402
from changeflow.local.load_balancer import LoadBalancer, missing_reason  # noqa: E402
from changeflow.local.processes import signal_group  # noqa: E402
from changeflow.local.triton_server import TritonServer  # noqa: E402
from changeflow.settings import paths  # noqa: E402
from changeflow.settings.environment import BakeSettings, Environment, RecordStoreSettings, Replica, ServerEndpoint  # noqa: E402
from changeflow.settings.loader import load_governance  # noqa: E402

INJECTED = "injected failure"
MODEL = "classifier"


def raw_parallel_swap_ms(replicas, config, rounds: int = 3) -> float:
    """[1, 2] → [1] on every replica at once, by hand through the repository API (no changeflow logic)."""
    timings = []
    with ThreadPoolExecutor(max_workers=len(replicas)) as pool:
        for _ in range(rounds):
            list(pool.map(lambda r: r.load(MODEL, with_versions(config, [1, 2])), replicas))
            started = time.perf_counter()
            list(pool.map(lambda r: r.load(MODEL, with_versions(config, [1])), replicas))
            timings.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(timings)


def fleet_restore_ms(production, rounds: int = 5) -> float:
    """[1, 2] → [1] through the fleet, as a rollback's restore does it (the file and every replica), median."""
    timings = []
    for _ in range(rounds):
        production.load_versions(MODEL, [1, 2])
        timings.append(production.load_versions(MODEL, [1]).swap_ms)
    return statistics.median(timings)


def median_or_none(samples: list[float | None]) -> float | None:
    """The median of the samples measured; None when none was (a change caught in staging has no rollback)."""
    measured = [s for s in samples if s is not None]
    return statistics.median(measured) if measured else None


def share_of_v4(load: ClientLoad, record) -> tuple[float | None, int]:
    """v4's share of client answers from the promote's start to the rollback's end, and how many answers
    (none when v4 never reached production or was not rolled back)."""
    steps = record.execution_steps + record.verification_steps + record.rollback_steps
    if not record.rollback_steps or not any(s.name == "promote" for s in steps):
        return None, 0
    start = min(s.started_at for s in steps if s.name == "promote").timestamp()
    end = max(s.ended_at for s in record.rollback_steps).timestamp()
    answered = load.answered_by(start, end)
    total = sum(answered.values())
    return (round(answered.get(4, 0) / total, 3) if total else None), total


def restart_converged_s(server: TritonServer, approved: list[int]) -> tuple[float, float]:
    """SIGKILL, the same command line again, until the replica answers with the approved versions READY:
    (when it was killed, seconds until then)."""
    killed_at, started = time.time(), time.monotonic()
    signal_group(server.process.pid, 9)
    server.process.wait()
    server.process = None
    server.start()
    replica = model_server(server.endpoint(server.name))
    while replica.ready_versions(MODEL) != approved:
        time.sleep(0.05)
    return killed_at, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--rollbacks", type=int, default=3, help="changes rolled back by the bake, for rollback_ms")
    args = parser.parse_args()
    if (reason := missing_reason()) is not None:
        raise SystemExit(f"bench/fleet.py needs a load balancer: {reason}")

    from changeflow.flows.model_deployment import model_deployment
    from prefect.testing.utilities import prefect_test_harness

    say(f"starting {args.replicas} production Tritons over one repository, haproxy, staging, Prefect …")
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="changeflow-bench-fleet-")))
        shared = scratch / "model_repository"
        shutil.copytree(paths.MODEL_REPOSITORY, shared, ignore=shutil.ignore_patterns("__pycache__"))
        servers = [
            stack.enter_context(
                TritonServer(shared, name=f"replica-{i}", workdir=scratch / f"replica-{i}", load_models=[MODEL])
            )
            for i in range(args.replicas)
        ]
        staging = stack.enter_context(TritonServer(paths.MODEL_REPOSITORY, name="staging", copy_repository=True))
        balancer = stack.enter_context(LoadBalancer([s.http_url for s in servers], workdir=scratch / "haproxy"))
        stack.enter_context(prefect_test_harness(server_startup_timeout=60))
        environment = Environment(
            production=ServerEndpoint(
                name="production",
                http_url=balancer.http_url,
                repository=shared,
                replicas=[Replica(name=s.name, http_url=s.http_url, metrics_url=s.metrics_url) for s in servers],
            ),
            staging=staging.endpoint("staging"),
            records=RecordStoreSettings(url=f"sqlite:///{scratch / 'records.db'}", publish=False),
            bake=BakeSettings(interval_s=0.5, probes_per_sample=20, smoke_requests=10),
        )
        services = bootstrap(environment)
        everywhere = load_governance(paths.EXAMPLES)
        everywhere = everywhere.model_copy(
            update={"verification": everywhere.verification.model_copy(update={"waves": {}})}
        )
        canary = everywhere.model_copy(
            update={
                "verification": everywhere.verification.model_copy(update={"waves": {ChangeType.NORMAL: (1, "100%")}})
            }
        )
        replicas = [model_server(s.endpoint(s.name)) for s in servers]
        golden = deployment("CHG-0000", 1, 2, 1).change.golden_set
        with ClientLoad(balancer.http_url, golden, threads=4) as load:
            say("raw parallel swaps by hand …")
            raw_ms = raw_parallel_swap_ms(replicas, services.config_store().read_config(MODEL))
            say("the project's restore, alone (what a rollback's restore step runs: repository and every replica) …")
            restore_ms = fleet_restore_ms(services.production)

            say(f"v4 promoted to every replica at once, rolled back by the bake ({args.rollbacks} changes) …")
            wides = []
            for n in range(args.rollbacks):
                wides.append(model_deployment(deployment(f"CHG-410{n}", 1, 4, 30), environment, governance=everywhere))
                say(rollback_line(wides[-1]))
            wide = next((w for w in wides if w.state is State.ROLLED_BACK), wides[0])  # the share needs a rollback

            say("v4 promoted in waves [1, 100%]: caught on the canary …")
            narrow = model_deployment(deployment("CHG-4002", 1, 4, 30), environment, governance=canary)
            say(rollback_line(narrow))

            say("v2 closed, then a replica SIGKILLed and started again …")
            good = model_deployment(deployment("CHG-2001", 1, 2, 2), environment, governance=everywhere)
            say(f"  CHG-2001: {good.state}")
            killed_at, converged_s = restart_converged_s(servers[-1], [2])
            say(f"  {servers[-1].name} serves v2 again {converged_s:.1f} s after the SIGKILL")

        wide_share, wide_n = share_of_v4(load, services.records.load(wide.change_id))
        canary_share, canary_n = share_of_v4(load, services.records.load(narrow.change_id))
        other = [m for t, m in load.failures if INJECTED not in m and t < killed_at]
        during_restart = [m for t, m in load.failures if INJECTED not in m and t >= killed_at]
        if other:
            say(f"unexpected failures, first: {other[0]}")
        report = {
            "replicas": args.replicas,
            "rollback_ms": rounded(median_or_none([w.rollback_ms for w in wides]), 2),
            "rollback_ms_samples": [rounded(w.rollback_ms, 2) for w in wides],
            "canary_rollback_ms": rounded(narrow.rollback_ms, 2),
            "no_rollback_because": [r for r in (no_rollback_because(x) for x in [*wides, narrow]) if r],
            "raw_parallel_swap_ms": rounded(raw_ms, 2),
            "fleet_restore_ms": rounded(restore_ms, 2),
            "requests": load.requests,
            "failed_requests": len(other),
            "failed_requests_during_restart": len(during_restart),
            "restart_converged_s": round(converged_s, 2),
            "canary_share": canary_share,
            "canary_answers": canary_n,
            "everywhere_share": wide_share,
            "everywhere_answers": wide_n,
            "outcomes": [*(w.state.value for w in wides), narrow.state.value, good.state.value],
        }
    print(json.dumps(report))
    if not (  # v4 caught in staging (its failures are random) is no rollback to time, not a failed bench
        wide.state is State.ROLLED_BACK and narrow.state is State.ROLLED_BACK and good.state is State.CLOSED
    ):
        raise SystemExit(1)


if __name__ == "__main__":
    main()

"""Benchmark: recovery without a person. A governed change's executor is SIGKILLed at each step (and the
safety net in its own restore; the worker together with its run, so that only the heartbeats tell; and
production Triton mid-bake); nobody runs a changeflow command after. Measures the seconds from the kill
to production verified on the known-good version, the record terminal and the model's lock free (for
production down: from its return).

    make bench-faults        (or: .venv/bin/python bench/faults.py)

The installation is ``changeflow serve``'s (deployments, a process worker, the recovery automations), with
the safety net's schedule off: only the automations start it. Prints progress, then one JSON line:
{"kill_points", "recovered", "max_recovery_s", "p50_recovery_s", "points": {...}}. Target: all recovered,
``max_recovery_s`` <= 90.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from changeflow.bootstrap import bootstrap  # noqa: E402
from changeflow.domain.request import ChangeRequest  # noqa: E402
from changeflow.local import drills  # noqa: E402
from changeflow.local.approvers import enrolled_approvers  # noqa: E402
from changeflow.local.processes import signal_group  # noqa: E402
from changeflow.local.triton_server import TritonServer  # noqa: E402
from changeflow.settings import paths  # noqa: E402
from changeflow.settings.environment import BakeSettings, Environment, RecordStoreSettings  # noqa: E402
from changeflow.settings.loader import load_change_request, load_governance  # noqa: E402

STEPS = ["stage", "validate", "promote", "smoke_test", "monitor"]
APPROVER = "oscar"  # an emergency approver in the shipped governance examples


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def emergency(change_id: str, to_version: int = 2) -> ChangeRequest:
    data = load_change_request(paths.CHANGES / "normal-deploy-v2.yaml").model_dump(mode="json")
    data["change"].update(to_version=to_version, bake_seconds=60)
    return ChangeRequest.model_validate({**data, "id": change_id, "type": "emergency"})


def recovered(installation: drills.Installation, request: ChangeRequest, kill: drills.Kill) -> drills.Recovery:
    services = bootstrap(installation.environment)
    recovery = drills.await_recovery(
        services.records, services.production, services.locks, request.id, "classifier", 1, kill, timeout_s=180
    )
    say(f"  {request.id}: killed in {kill.step}; {recovery.state} after {recovery.seconds:.1f}s")
    return recovery


def production_down(
    installation: drills.Installation, production: TritonServer, request: ChangeRequest
) -> drills.Recovery:
    """Production dies mid-bake; after the record says so, its supervisor restarts it: seconds from then."""
    store = bootstrap(installation.environment).records
    drills.start_approved(installation, request, "monitor", APPROVER)
    signal_group(production.process.pid, signal.SIGKILL)
    production.process.wait()
    production.process = None
    drills.await_record(store, request.id, lambda r: "PRODUCTION NEEDS ATTENTION" in (r.outcome or ""), 180, poll_s=0.2)
    production.start()
    back = drills.Kill(pid=0, step="production down", production_touched=True, killed_at=time.monotonic())
    return recovered(installation, request, back)


@contextmanager
def prefect_api(database: str, scratch: Path) -> Iterator[None]:
    """Prefect's server for the drills: on PostgreSQL (a private one), or Prefect's SQLite test server."""
    if database == "sqlite":
        from prefect.testing.utilities import prefect_test_harness

        with prefect_test_harness(server_startup_timeout=60):
            yield
        return
    from changeflow.local.postgres import LocalPostgres

    with LocalPostgres() as postgres, drills.prefect_on_postgres(postgres, scratch / "prefect"):
        yield


def main() -> None:
    """``bench/faults.py [postgresql|sqlite]``: Prefect's database; PostgreSQL where it can run. On SQLite,
    Prefect's server stalls writes for its 60 s busy timeout under this load (see docs/benchmarks.md)."""
    from changeflow.local.postgres import missing_reason

    database = sys.argv[1] if len(sys.argv) > 1 else ("sqlite" if missing_reason() else "postgresql")
    say(
        f"starting production and staging Tritons, a Prefect server on {database}, a worker and the recovery automations …"
    )
    with (
        enrolled_approvers([APPROVER]),
        tempfile.TemporaryDirectory(prefix="changeflow-bench-") as scratch,
        TritonServer(
            paths.MODEL_REPOSITORY, name="faults-production", copy_repository=True, load_models=["classifier"]
        ) as production,
        TritonServer(paths.MODEL_REPOSITORY, name="faults-staging", copy_repository=True) as staging,
        prefect_api(database, Path(scratch)),
    ):
        environment = Environment(
            production=production.endpoint("production"),
            staging=staging.endpoint("staging"),
            records=RecordStoreSettings(url=f"sqlite:///{Path(scratch) / 'records.db'}", publish=False),
            bake=BakeSettings(
                interval_s=0.5, probes_per_sample=20, smoke_requests=1000
            ),  # smoke tests take seconds: kills land in them
        )
        governance = load_governance(paths.EXAMPLES, approval_timeout_s=120, approval_poll_s=1)
        points: dict[str, float | None] = {}
        with drills.Installation(environment, governance) as installation:
            services = bootstrap(environment)

            def attempt(name: str, run) -> None:
                try:
                    points[name] = round(run().seconds, 2)
                except Exception as exc:  # a point that did not recover is reported, the others still run
                    say(f"  {name}: NOT RECOVERED: {exc.__class__.__name__}: {exc}")
                    points[name] = None

            for number, step in enumerate(STEPS):
                if step == "stage" and services.staging.ready_versions("classifier"):
                    services.staging.unload("classifier")
                request = emergency(f"CHG-91{number:02d}")
                attempt(
                    step,
                    lambda: recovered(
                        installation, request, drills.run_and_kill(installation, request, step, APPROVER)
                    ),
                )
            rollback = emergency("CHG-9200", to_version=5)  # slower: the bake fails, the executor rolls back
            attempt(
                "rollback",
                lambda: recovered(
                    installation, rollback, drills.run_and_kill(installation, rollback, "verify_restored", APPROVER)
                ),
            )

            def safety_net_killed() -> drills.Recovery:
                request = emergency("CHG-9300")
                first = drills.run_and_kill(installation, request, "monitor", APPROVER)
                net = drills.safety_net_pid(installation.ids["safety-net"])
                second = drills.kill_at_step(
                    services.records, request.id, "verify_restored", 60, pid_of=lambda record: net
                )
                say(f"  {request.id}: executor killed in {first.step}, then the safety net in {second.step}")
                return recovered(installation, request, second)

            attempt("safety_net_restore", safety_net_killed)

            def worker_lost() -> drills.Recovery:
                """The worker dies with the run: only the run's silence (no heartbeat for 45 s) tells."""
                request = emergency("CHG-9500")
                record = drills.start_approved(installation, request, "monitor", APPROVER)
                installation.lose_worker(also=int(record.executor["pid"]))
                lost = drills.Kill(
                    pid=int(record.executor["pid"]),
                    step="monitor (worker lost too)",
                    production_touched=True,
                    killed_at=time.monotonic(),
                )
                return recovered(installation, request, lost)

            attempt("worker_lost", worker_lost)
            attempt("production_down", lambda: production_down(installation, production, emergency("CHG-9400")))
    times = [t for t in points.values() if t is not None]
    print(
        json.dumps(
            {
                "prefect_database": database,
                "kill_points": len(points),
                "recovered": len(times),
                "max_recovery_s": max(times) if times else None,
                "p50_recovery_s": round(statistics.median(times), 2) if times else None,
                "points": points,
            }
        )
    )


if __name__ == "__main__":
    main()

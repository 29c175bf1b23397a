"""Benchmark: changeflow at scale on a distributed Prefect — PostgreSQL holding Prefect's database and the
change records, two workers on one process work pool, real production and staging Tritons serving many
small models — then the record database filled to 10,000 records and the readers timed.

    make bench-scale     (or: .venv/bin/python bench/scale.py [--changes 200] [--models 20] [--fill 10000])

Prints progress, then one JSON line (the last line): {"changes", "closed", "lost", "same_model_overlaps",
"throughput_per_min", "p50_s", "p95_s", "records", "list_ms", "report_ms", "history_ms", ...}. ``list_ms``
is ``changeflow list`` (its newest page of 50, as a person reads it; target under 1 s at 10,000 records),
``list_json_ms`` the same page as JSON and ``list_last_page_ms`` the oldest page.
Changes are config tweaks (standard, pre-approved) on every model, and version deployments (normal, two
CAB approvals given through the same path a person uses) on the classifier copies, all submitted at once.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from changeflow.adapters.sql_migrate import upgrade  # noqa: E402
from changeflow.adapters.sql_records import SqlRecordStore  # noqa: E402
from changeflow.domain.history import same_model_overlaps  # noqa: E402
from changeflow.exceptions import RecordNotFound  # noqa: E402
from changeflow.local.executor import executor_configuration  # noqa: E402
from changeflow.local.postgres import LocalPostgres  # noqa: E402
from changeflow.local.prefect_server import LocalPrefectServer  # noqa: E402
from changeflow.local.serve import POOL, deploy_change_flows  # noqa: E402
from changeflow.local.triton_server import TritonServer  # noqa: E402
from changeflow.local.workers import LocalWorkers  # noqa: E402
from changeflow.settings import paths  # noqa: E402
from changeflow.settings.environment import BakeSettings, Environment, RecordStoreSettings  # noqa: E402
from changeflow.settings.loader import load_change_request, load_governance  # noqa: E402

MORNING, NIGHT = "2026-11-25T10:00:00+01:00", "2026-11-25T22:00:00+01:00"
CLI = str(Path(sys.executable).parent / "changeflow")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def model_repository(folder: Path, scalers: int, classifiers: int) -> tuple[list[str], list[str]]:
    """Copies of the sample feature_scaler and classifier under new names: many small models."""
    source = paths.MODEL_REPOSITORY
    shutil.copy(source / "sample_model.py", folder / "sample_model.py")
    names = ([], [])
    for kind, count, bucket in (("feature_scaler", scalers, names[0]), ("classifier", classifiers, names[1])):
        for i in range(count):
            name = f"{kind}_{i:02d}"
            shutil.copytree(source / kind, folder / name, ignore=shutil.ignore_patterns("__pycache__", "3", "4"))
            config = folder / name / "config.pbtxt"
            config.write_text(config.read_text().replace(f'name: "{kind}"', f'name: "{name}"', 1))
            bucket.append(name)
    return names


def golden_sets(folder: Path, classifiers: list[str]) -> dict[str, Path]:
    """The classifier's golden set, once per copy (a golden set names the model it tests)."""
    folder.mkdir()
    golden = json.loads((paths.GOLDEN / "classifier.json").read_text())
    out = {}
    for name in classifiers:
        out[name] = folder / f"{name}.json"
        out[name].write_text(json.dumps({**golden, "model": name}))
    return out


def requests(
    scalers: list[str], classifiers: list[str], total: int, golden: dict[str, Path]
) -> list[tuple[str, dict, str, list]]:
    """(deployment, request, clock, approvals): one version deployment per classifier copy, the rest config tweaks."""
    tweak = load_change_request(paths.CHANGES / "standard-config-tweak.yaml")
    deploy = load_change_request(paths.CHANGES / "normal-deploy-v2.yaml")
    out = []
    for i, model in enumerate(classifiers[: total // 10]):
        change = deploy.change.model_copy(update={"bake_seconds": 5, "golden_set": str(golden[model])})
        request = deploy.model_copy(update={"id": f"CHG-{5000 + i:04d}", "model": model, "change": change})
        out.append(
            (
                "normal-change/normal",
                request.model_dump(mode="json"),
                NIGHT,
                [("carol", True, "scale"), ("dave", True, "")],
            )
        )
    models = scalers + classifiers
    for i in range(total - len(out)):
        change = tweak.change.model_copy(update={"set": {"dynamic_batching.max_queue_delay_microseconds": 100 + i}})
        request = tweak.model_copy(
            update={"id": f"CHG-{6000 + i:04d}", "model": models[i % len(models)], "change": change}
        )
        out.append(("standard-change/standard", request.model_dump(mode="json"), MORNING, []))
    return out


def timed_cli_ms(env: dict, *args: str, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        result = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"changeflow {' '.join(args)} failed: {result.stderr[-500:]}")
        best = min(best, (time.perf_counter() - started) * 1000)
    return round(best, 1)


def fill(store: SqlRecordStore, templates: list, target: int) -> None:
    """Copies of the bench's own finished records under new IDs, until the database holds ``target``."""
    have, i = store.count(), 0
    while have < target:
        template = templates[i % len(templates)]
        store.save(template.model_copy(update={"id": f"CHG-{100000 + i:06d}"}))
        have, i = have + 1, i + 1
        if i % 2000 == 0:
            say(f"  {have} records")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument(
        "--models", type=int, default=20, help="copies of each sample model (feature_scaler and classifier)"
    )
    parser.add_argument("--fill", type=int, default=10_000)
    parser.add_argument("--worker-limit", type=int, default=4, help="flow runs at once per worker")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a stopped bench still stops its servers and workers
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from changeflow.adapters.credentials import signed_proof
    from changeflow.adapters.prefect_approvals import submit_decision
    from changeflow.local.approvers import enrolled_approvers

    scratch = Path(tempfile.mkdtemp(prefix="changeflow-bench-scale-"))
    try:
        repository = scratch / "models"
        repository.mkdir()
        scalers, classifiers = model_repository(repository, args.models, args.models)
        say(f"PostgreSQL, a Prefect server on it, Tritons with {len(scalers) + len(classifiers)} models …")
        with (
            enrolled_approvers(["carol", "dave"]) as keys,
            LocalPostgres() as pg,
            TritonServer(
                repository, name="production", copy_repository=True, load_models=scalers + classifiers
            ) as prod,
            TritonServer(repository, name="staging", copy_repository=True) as staging,
        ):
            records = pg.create_database("changeflow_records")
            upgrade(pg.url(records))  # the schema owner (a DBA) migrates; workers, CLI and bench log in as a writer
            records_url = pg.app_url(records)
            (scratch / "prefect").mkdir()
            prefect = LocalPrefectServer(
                home=scratch / "prefect", database_url=pg.url(pg.create_database("prefect"), driver="asyncpg")
            ).start()
            try:
                environment = Environment(
                    production=prod.endpoint("production"),
                    staging=staging.endpoint("staging"),
                    records=RecordStoreSettings(url=records_url),
                    bake=BakeSettings(interval_s=1.0, probes_per_sample=10, smoke_requests=3),
                )
                governance = load_governance(paths.EXAMPLES, approval_timeout_s=1800, approval_poll_s=2)
                templates = [
                    t.model_copy(update={"models": scalers + classifiers}) for t in governance.catalog.templates
                ]
                governance = governance.model_copy(
                    update={"catalog": governance.catalog.model_copy(update={"templates": templates})}
                )
                env = {
                    "PREFECT_API_URL": prefect.api_url,
                    "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
                }
                with temporary_settings(updates={PREFECT_API_URL: prefect.api_url}):
                    deploy_change_flows(safety_net_every_s=3600, drift_every_s=None)
                    env.update(
                        executor_configuration(
                            scratch / "executor",
                            environment,
                            governance,
                            {"normal": datetime.fromisoformat(NIGHT), "standard": datetime.fromisoformat(MORNING)},
                        )
                    )
                    # the copies' golden sets are the bench's own: a folder the executor may read them from
                    env["CHANGEFLOW_GOLDEN_ROOTS"] += os.pathsep + str(scratch / "golden")
                    work = requests(scalers, classifiers, args.changes, golden_sets(scratch / "golden", classifiers))
                    say(
                        f"{len(work)} changes across {len({w[1]['model'] for w in work})} models, submitted at once to 2 workers …"
                    )
                    with LocalWorkers(POOL, count=2, env=env, limit=args.worker_limit, poll_s=1.0):
                        submitted: dict[str, float] = {}
                        for deployment, request, clock, _ in work:
                            run_deployment(
                                deployment, parameters={"request": request}, timeout=0
                            )  # the worker's clock: CHANGEFLOW_CLOCK
                            submitted[request["id"]] = time.time()
                        store = SqlRecordStore(records_url)
                        say(
                            f"  submitted; the CAB approves the {sum(1 for w in work if w[3])} version deployments as they pause …"
                        )
                        for (
                            _,
                            request,
                            _,
                            decisions,
                        ) in work:  # in this thread: Prefect's settings context does not follow threads
                            for approver, approve, comment in decisions:
                                proof = lambda cid=request["id"], who=approver, ok=approve: signed_proof(
                                    store, keys, cid, who, ok
                                )
                                submit_decision(request["id"], approver, approve, comment, wait_s=1800, proof=proof)
                                time.sleep(0.3)  # let the flow take it before looking for its next pause
                        store = SqlRecordStore(records_url)
                        ended: dict[str, float] = {}
                        deadline = time.time() + 3600
                        while len(ended) < len(submitted) and time.time() < deadline:
                            for change_id in submitted.keys() - ended.keys():
                                try:
                                    if store.load(change_id).is_terminal:
                                        ended[change_id] = time.time()
                                except RecordNotFound:
                                    pass
                            say(f"  {len(ended)}/{len(submitted)} changes ended")
                            time.sleep(5)
                records = [store.load(i) for i in ended]
                first = min(submitted.values())
                latencies = sorted(ended[i] - submitted[i] for i in ended)
                result = {
                    "changes": len(submitted),
                    "models": len({r["model"] for _, r, _, _ in work}),
                    "closed": sum(1 for r in records if r.state.value == "closed"),
                    "states": {
                        s: sum(1 for r in records if r.state.value == s)
                        for s in sorted({r.state.value for r in records})
                    },
                    "lost": len(submitted) - len(ended),
                    "same_model_overlaps": len(same_model_overlaps(records)),
                    "throughput_per_min": round(len(ended) / max((max(ended.values()) - first) / 60, 1e-9), 2)
                    if ended
                    else 0.0,
                    "p50_s": round(statistics.median(latencies), 1) if latencies else None,
                    "p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 1) if latencies else None,
                    "workers": 2,
                }
                say(f"changes: {json.dumps(result)}")
            finally:
                prefect.stop()
            say(f"filling the record database to {args.fill} records …")
            fill(store, records, args.fill)
            cli_env = {**os.environ, "CHANGEFLOW_RECORDS_URL": records_url}
            cli_env.pop("PREFECT_API_URL", None)
            governed = next(r.id for r in records if r.state.value == "closed")
            result.update(
                records=store.count(),
                list_ms=timed_cli_ms(cli_env, "list"),  # the newest page, as a person reads it (target: < 1 s)
                list_json_ms=timed_cli_ms(cli_env, "list", "--json"),
                list_last_page_ms=timed_cli_ms(cli_env, "list", "--page", str(-(-store.count() // 50))),
                report_ms=timed_cli_ms(cli_env, "report", "--json", "--days", "3650"),
                history_ms=timed_cli_ms(cli_env, "history", governed, "--json"),
                cli_startup_ms=timed_cli_ms(cli_env, "--help"),
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

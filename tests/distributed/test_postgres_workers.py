"""Two workers on one pool over a PostgreSQL-backed Prefect, the change records in PostgreSQL too:
either worker takes a change, two changes to one model never overlap across workers, a worker killed
mid-bake is compensated from the other worker, and the records outlive the Prefect server."""

from __future__ import annotations

import json
import os
import time

import pytest

from changeflow.adapters.sql_records import SqlRecordStore
from changeflow.domain.history import same_model_overlaps, verify_chain
from changeflow.domain.record import State
from changeflow.exceptions import RecordNotFound
from changeflow.services.orphans import process_gone
from changeflow.settings.loader import load_change_request
from tests.conftest import EXAMPLES
from tests.e2e.test_cli import run
from tests.flows.helpers import wait_for_step

pytestmark = [pytest.mark.triton, pytest.mark.slow]
MORNING, NIGHT = "2026-11-25T10:00:00+01:00", "2026-11-25T22:00:00+01:00"


def tweak(change_id: str, delay: int) -> dict:
    request = load_change_request(EXAMPLES / "changes" / "standard-config-tweak.yaml")
    change = request.change.model_copy(update={"set": {"dynamic_batching.max_queue_delay_microseconds": delay}})
    return request.model_copy(update={"id": change_id, "change": change}).model_dump(mode="json")


def wait_terminal(store: SqlRecordStore, change_ids: list[str], timeout_s: float = 300):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            records = [store.load(i) for i in change_ids]
            if all(r.is_terminal for r in records):
                return records
        except RecordNotFound:
            pass
        time.sleep(1)
    raise AssertionError(f"{change_ids} not terminal after {timeout_s:.0f}s")


def started(api_url: str, deployment: str, parameters: dict):
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        return run_deployment(deployment, parameters=parameters, timeout=0)


def test_same_model_changes_run_on_both_workers_one_after_the_other(distributed):
    store = SqlRecordStore(distributed.records_url)
    runs = [
        started(distributed.api_url, "standard-change/standard", {"request": tweak(f"CHG-310{i}", 100 + i)})
        for i in range(2)
    ]
    records = wait_terminal(store, ["CHG-3100", "CHG-3101"])
    assert [r.state for r in records] == [State.CLOSED, State.CLOSED], [r.outcome for r in records]
    assert same_model_overlaps(records) == []  # serialised by the model's global concurrency limit
    assert sorted(i for run in runs for i in distributed.workers.ran(str(run.id))) == [0, 1]  # one each
    assert all(verify_chain(store.history(r.id)) is None for r in records)


def test_a_worker_killed_mid_bake_is_compensated_from_the_other_worker(distributed):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from changeflow.adapters.credentials import signed_proof
    from changeflow.adapters.prefect_approvals import submit_decision
    from changeflow.bootstrap import model_server
    from changeflow.settings.defaults import approver_keys_dir

    store = SqlRecordStore(distributed.records_url)
    production = model_server(distributed.environment.production)
    request = load_change_request(EXAMPLES / "changes" / "normal-deploy-v2.yaml")
    request = request.model_copy(
        update={"id": "CHG-3200", "change": request.change.model_copy(update={"bake_seconds": 300})}
    )
    with temporary_settings(updates={PREFECT_API_URL: distributed.api_url}):
        run = started(distributed.api_url, "normal-change/normal", {"request": request.model_dump(mode="json")})
        for approver in ("carol", "dave"):  # the CAB, through the path `changeflow approve` uses
            proof = lambda who=approver: signed_proof(store, approver_keys_dir(), "CHG-3200", who, True)
            submit_decision("CHG-3200", approver, True, "distributed", wait_s=180, proof=proof)
            time.sleep(1)
        wait_for_step(store, "CHG-3200", "monitor", timeout_s=240)
    assert production.ready_versions("classifier") == [1, 2]  # promoted, baking
    [worker] = distributed.workers.ran(str(run.id))
    distributed.workers.kill(worker)  # the worker and its flow run: no hook runs
    executor = store.load("CHG-3200").executor
    assert store.load("CHG-3200").state is State.VERIFYING
    assert process_gone(executor["pid"])  # the flow run died with its worker

    net = started(distributed.api_url, "safety-net/safety-net", {})
    [record] = wait_terminal(store, ["CHG-3200"], timeout_s=240)
    assert record.state is State.ROLLED_BACK and "safety net" in record.outcome
    assert production.ready_versions("classifier") == [1]  # queried from Triton
    deadline = time.monotonic() + 60
    while not distributed.workers.ran(str(net.id)) and time.monotonic() < deadline:
        time.sleep(1)
    assert distributed.workers.ran(str(net.id)) == [1 - worker]  # the surviving worker compensated


def test_records_outlive_the_prefect_server(distributed):
    distributed.prefect.stop()
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"} | {
        "CHANGEFLOW_RECORDS_URL": distributed.records_url
    }
    listing = run("list", "--json", "--all", env=env)
    assert listing.returncode == 0, listing.stderr
    assert {"CHG-3100", "CHG-3101", "CHG-3200"} <= {c["id"] for c in json.loads(listing.stdout)}
    history = run("history", "CHG-3200", "--json", env=env)
    versions = [json.loads(line) for line in history.stdout.splitlines()]
    assert (
        history.returncode == 0 and versions[-1]["state"] == "rolled_back" and len({v["writer"] for v in versions}) >= 2
    )

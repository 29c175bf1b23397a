"""The per-model lock on Prefect's server: two changes to one model never execute at once, and the drift
check's ``hold_if_free`` never waits and never leaves a slot behind it, whoever holds the model."""

import threading

import pytest
from changeflow.flows.config_change import config_change
from changeflow.flows.model_deployment import model_deployment

from changeflow import State
from changeflow.adapters.prefect import PrefectModelLocks
from changeflow.bootstrap import record_store
from changeflow.local.drills import await_record
from changeflow.settings.loader import load_governance
from tests.conftest import EXAMPLES
from tests.flows.helpers import change, execute_as_scheduled

pytestmark = pytest.mark.usefixtures("prefect_server")


def test_hold_if_free_steps_aside_at_once_and_leaks_nothing():
    locks = PrefectModelLocks()
    with locks.hold("lock-probe", timeout_s=10) as held:
        assert held
        for _ in range(5):  # a busy model, asked again and again (a drift check every interval)
            with locks.hold_if_free("lock-probe") as lease:
                assert lease is None
    with locks.hold_if_free("lock-probe") as lease:  # free again at once: no refused attempt took a slot later
        assert lease is not None
        with locks.hold_if_free("lock-probe") as second:
            assert second is None
    with locks.hold("lock-probe", timeout_s=5) as again:
        assert again


def test_two_changes_to_one_model_never_execute_at_once(environment):
    """A deployment of classifier (baking for seconds) and a config change to classifier, each executed under
    the model's lock as an approved change is (``execute_scheduled``; that the governed sequence takes the
    lock: tests/governed). The config change is started once the deployment executes: it waits for the
    lock, and runs only after the deployment ended (without the lock it would run during the bake)."""
    governance = load_governance(EXAMPLES)
    store = record_store(environment.records)
    first = change("normal-deploy-v2.yaml", id="CHG-0011", change={"bake_seconds": 4})
    second = change(
        "standard-config-tweak.yaml",
        id="CHG-0012",
        model="classifier",
        change={"set": {"dynamic_batching.max_queue_delay_microseconds": 300}},
    )
    results = {}

    def execute(request, kind_flow):
        results[request.id] = execute_as_scheduled(kind_flow, request, environment, governance)

    deploying = threading.Thread(target=execute, args=(first, model_deployment))
    deploying.start()
    await_record(store, first.id, lambda record: record.state is State.EXECUTING, timeout_s=60, poll_s=0.1)
    configuring = threading.Thread(target=execute, args=(second, config_change))
    configuring.start()
    for t in (deploying, configuring):
        t.join(timeout=120)
    assert {change_id: r.state for change_id, r in results.items()} == {
        "CHG-0011": State.CLOSED,
        "CHG-0012": State.CLOSED,
    }
    spans = []
    for change_id in ("CHG-0011", "CHG-0012"):
        record = store.load(change_id)
        steps = record.execution_steps + record.verification_steps
        spans.append((min(s.started_at for s in steps), max(s.ended_at for s in steps)))
    (a_start, a_end), (b_start, b_end) = spans
    assert a_end <= b_start, f"executions overlapped: {spans}"

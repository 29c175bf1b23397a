"""The model deployment flow end to end: Prefect test server, real staging and production Tritons."""

import threading

import numpy as np
import pytest
from changeflow.flows.model_deployment import model_deployment

from changeflow import State
from changeflow.bootstrap import record_store
from changeflow.settings.loader import load_change_request
from tests.conftest import EXAMPLES
from tests.flows.helpers import wait_for_step

pytestmark = pytest.mark.triton
X = np.array([[0.5, -1.0, 2.0, 0.25]], dtype=np.float32)


def request(name, **change):
    base = load_change_request(EXAMPLES / "changes" / name)
    return base.model_copy(update={"change": base.change.model_copy(update=change)})


def serving(production):
    return production.ready_versions("classifier"), production.infer("classifier", {"INPUT": X}).model_version


def on_v2(production):
    production.load_versions("classifier", [2])


def test_good_version_is_deployed_and_closed(environment, production):
    result = model_deployment(request("normal-deploy-v2.yaml", bake_seconds=2), environment)
    assert result.state is State.CLOSED
    assert (result.serving_version_before, result.serving_version_after) == (1, 2)
    assert serving(production) == ([2], 2)  # old version unloaded after the bake
    record = record_store(environment.records).load("CHG-0002")
    assert [s.name for s in record.execution_steps] == ["check_serving_version", "stage", "validate", "promote"]
    assert [s.name for s in record.verification_steps] == ["smoke_test", "monitor", "finalize"]
    assert all(
        s.outcome == "ok" and s.ended_at >= s.started_at for s in record.execution_steps + record.verification_steps
    )
    assert record.rollback_steps == [] and record.outcome.startswith("v2 serving; bake")


def test_wrong_version_is_aborted_in_staging_and_production_untouched(environment, production):
    on_v2(production)
    result = model_deployment(request("normal-deploy-v3.yaml"), environment)
    assert result.state is State.ABORTED
    assert "golden cases wrong" in result.outcome
    assert serving(production) == ([2], 2)
    record = record_store(environment.records).load("CHG-0003")
    assert not record.production_touched
    assert [s.name for s in record.execution_steps] == ["check_serving_version", "stage", "validate"]
    assert record.execution_steps[-1].outcome == "failed"


def test_flaky_version_is_caught_by_monitoring_and_rolled_back(environment, production):
    on_v2(production)
    result = model_deployment(request("normal-deploy-v4.yaml", bake_seconds=30), environment)
    assert result.state is State.ROLLED_BACK
    assert serving(production) == ([2], 2)
    assert result.rollback_ms is not None and result.rollback_ms < 1000  # warm: v2 was still loaded
    record = record_store(environment.records).load("CHG-0004")
    monitor = record.verification_steps[-1]
    assert monitor.name == "monitor" and monitor.outcome == "failed"
    assert "probe error rate" in monitor.detail
    assert monitor.ended_at - monitor.started_at < __import__("datetime").timedelta(
        seconds=10
    )  # stopped early, not after 30 s
    assert [s.name for s in record.rollback_steps] == ["restore_version", "verify_restored"]
    assert all(s.outcome == "ok" for s in record.rollback_steps)
    assert record.serving_version_after == 2


def test_a_step_raising_after_promotion_rolls_back(environment, production):
    broken = environment.model_copy(
        update={"production": environment.production.model_copy(update={"metrics_url": "http://127.0.0.1:9/metrics"})}
    )
    with pytest.raises(Exception, match="metrics .* do not answer"):
        model_deployment(request("normal-deploy-v2.yaml", bake_seconds=5), broken)
    record = record_store(environment.records).load("CHG-0002")
    assert record.state is State.ROLLED_BACK and record.production_touched
    assert serving(production) == ([1], 1)


def test_a_cancelled_bake_rolls_back(environment, production):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
    from prefect.states import Cancelling

    outcome = {}

    def run():
        flow = model_deployment.with_options(flow_run_name="cancel-me-mid-bake")
        outcome["state"] = flow(request("normal-deploy-v2.yaml", bake_seconds=60), environment, return_state=True)

    worker = threading.Thread(target=run)
    worker.start()
    store = record_store(environment.records)
    wait_for_step(store, "CHG-0002", "monitor")
    with get_client(sync_client=True) as client:
        run_ = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=["cancel-me-mid-bake"]))
        )[0]
        client.set_flow_run_state(run_.id, Cancelling(), force=True)
    worker.join(timeout=60)
    assert not worker.is_alive()
    state = outcome["state"]
    assert state.is_cancelled(), state
    record = store.load("CHG-0002")
    assert record.state is State.ROLLED_BACK and "cancelled during the bake" in record.outcome
    assert serving(production) == ([1], 1)


def test_going_back_to_a_lower_version_serves_it(environment, production):
    on_v2(production)
    result = model_deployment(
        request("normal-deploy-v2.yaml", from_version=2, to_version=1, bake_seconds=2), environment
    )
    assert result.state is State.CLOSED, result.outcome
    assert serving(production) == ([1], 1)


def test_a_deployment_of_the_version_already_serving_is_refused_before_anything_runs(environment, production):
    from changeflow.exceptions import ServingMismatch

    with pytest.raises(ServingMismatch, match="already serves classifier v1: nothing to deploy"):
        model_deployment(request("normal-deploy-v2.yaml", from_version=None, to_version=1, bake_seconds=2), environment)
    record = record_store(environment.records).load("CHG-0002")
    assert record.state is State.ABORTED and not record.production_touched
    assert [s.name for s in record.execution_steps] == ["check_serving_version"]
    assert serving(production) == ([1], 1)


def test_plans_name_the_steps_the_flow_records(environment):
    """What approvers read in the plan is what the record shows afterwards (and the rollback's too)."""
    from changeflow.kinds import plan_for

    deploy = request("normal-deploy-v4.yaml", from_version=1, bake_seconds=10)
    plan = plan_for(deploy)
    model_deployment(deploy, environment)
    record = record_store(environment.records).load(deploy.id)
    assert [s.name for s in record.execution_steps] == [s.name for s in plan.execution_steps]
    assert [s.name for s in record.rollback_steps] == [s.name for s in plan.rollback_steps]
    assert record.state is State.ROLLED_BACK

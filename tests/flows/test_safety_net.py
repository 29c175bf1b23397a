"""The process running a change is killed after promotion (no hook can run): the safety net finds the
orphaned change by its record and dead executor and rolls production back."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from changeflow.flows.safety import safety_net

from changeflow import State
from changeflow.bootstrap import record_store
from tests.flows.helpers import wait_for_step

pytestmark = pytest.mark.triton
X = np.array([[0.5, -1.0, 2.0, 0.25]], dtype=np.float32)


def start_executor(environment, tmp_path, bake_seconds: int = 120) -> subprocess.Popen:
    from prefect.settings import PREFECT_API_URL

    environment_file = tmp_path / "environment.json"
    environment_file.write_text(environment.model_dump_json())
    script = textwrap.dedent(
        f"""
        from changeflow.settings.environment import Environment
        from changeflow.settings.loader import load_change_request
        from changeflow.flows.model_deployment import model_deployment
        environment = Environment.model_validate_json(open({str(environment_file)!r}).read())
        request = load_change_request({str(os.path.join("examples", "changes", "normal-deploy-v2.yaml"))!r})
        request = request.model_copy(update={{"change": request.change.model_copy(update={{"bake_seconds": {bake_seconds}}})}})
        model_deployment(request, environment)
        """
    )
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    return subprocess.Popen(
        [sys.executable, "-c", script],
        env=env,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_killed_executor_is_rolled_back_by_the_safety_net(environment, production, tmp_path):
    executor = start_executor(environment, tmp_path)
    store = record_store(environment.records)
    wait_for_step(store, "CHG-0002", "monitor", timeout_s=90)  # v2 promoted, the bake runs
    assert production.ready_versions("classifier") == [1, 2], "the change did not reach the bake"
    os.kill(executor.pid, signal.SIGKILL)
    executor.wait()
    assert store.load("CHG-0002").state is State.VERIFYING  # left mid-flight: nothing ran after the kill

    result = safety_net(environment)
    assert result.rolled_back == ["CHG-0002"] and result.failed == {}
    record = store.load("CHG-0002")
    assert record.state is State.ROLLED_BACK and "safety net: its executor (pid" in record.outcome
    assert production.ready_versions("classifier") == [1]
    assert production.infer("classifier", {"INPUT": X}).model_version == 1
    assert safety_net(environment).rolled_back == []  # nothing left to do: idempotent


def test_an_executor_killed_before_touching_production_leaves_an_aborted_change(environment, production, tmp_path):
    from changeflow.bootstrap import bootstrap

    staging = bootstrap(environment).staging
    if staging.ready_versions("classifier"):
        staging.unload("classifier")  # staging must load v2 cold (over a second): the kill lands while it does
    executor = start_executor(environment, tmp_path)
    store = record_store(environment.records)
    wait_for_step(store, "CHG-0002", "stage", timeout_s=90)  # staging only: production untouched
    os.kill(executor.pid, signal.SIGKILL)
    executor.wait()
    assert store.load("CHG-0002").state is State.EXECUTING and not store.load("CHG-0002").production_touched

    result = safety_net(environment)
    assert result.aborted == ["CHG-0002"] and result.rolled_back == []
    record = store.load("CHG-0002")
    assert record.state is State.ABORTED and "before production was touched" in record.outcome
    assert production.ready_versions("classifier") == [1]


def orphan_on(environment, change_id: str):
    """A change left verifying after promotion by an executor that no longer exists."""
    from changeflow.flows.compensation import open_for_execution

    from changeflow.bootstrap import bootstrap
    from changeflow.settings.loader import load_change_request
    from tests.conftest import EXAMPLES

    request = load_change_request(EXAMPLES / "changes" / "normal-deploy-v2.yaml").model_copy(update={"id": change_id})
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    recorder = open_for_execution(request, bootstrap(environment), None)
    recorder.note(
        executor={**recorder.record.executor, "pid": str(gone.pid)}, serving_version_before=1, production_touched=True
    )
    recorder.transition(State.VERIFYING, "test: v2 promoted, then its executor died")


def test_a_restore_that_keeps_failing_says_production_needs_attention_and_raises_the_alarm(environment, tmp_path):
    """Production does not answer: the restore is retried, then the record says so (still verifying, so
    the next run tries again), an incident change event goes out, and `reconcile` exits 6."""
    from changeflow.flows.safety import Settling

    from changeflow.local.event_sink import EventSink
    from changeflow.settings.governance import IncidentEvents
    from changeflow.settings.loader import load_governance
    from tests.conftest import EXAMPLES

    down = environment.model_copy(
        update={
            "production": environment.production.model_copy(
                update={"http_url": "http://127.0.0.1:9", "metrics_url": None}
            )
        }
    )
    orphan_on(down, "CHG-7001")
    with EventSink() as sink:
        governance = load_governance(EXAMPLES, incident_events=IncidentEvents(url=sink.url, routing_key="test"))
        result = safety_net(
            down, governance, Settling(attempts=2, backoff_s=0.01, unreachable_poll_s=0.01, unreachable_wait_s=0.02)
        )
    assert list(result.failed) == ["CHG-7001"] and "production unreachable" in result.failed["CHG-7001"]
    record = record_store(down.records).load("CHG-7001")
    assert record.state is State.VERIFYING and record.outcome.startswith(
        "PRODUCTION NEEDS ATTENTION: the rollback failed (production unreachable"
    )
    assert sink.events and all(
        e["payload"]["summary"].startswith("CHG-7001 production needs attention") for e in sink.events
    )

    from prefect.settings import PREFECT_API_URL

    (tmp_path / "down.json").write_text(down.model_dump_json())
    reconcile = subprocess.run(
        [
            os.path.join(os.path.dirname(sys.executable), "changeflow"),
            "reconcile",
            "--environment",
            str(tmp_path / "down.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()},
    )
    assert reconcile.returncode == 6 and "failed: {'CHG-7001'" in reconcile.stdout, reconcile.stdout + reconcile.stderr

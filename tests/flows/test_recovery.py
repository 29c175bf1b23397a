"""Recovery without a person: a governed change's executor is SIGKILLed at each step (and the safety net
in its own restore, and production Triton mid-bake); the test runs no command after the kill. Production
must be back on the known-good version (asked of Triton), the record terminal and truthful, the model's
lock free (within 20 s, against a dead holder's 60 s lease). The installation is ``changeflow serve``'s: deployments on a process work pool, a worker, the
recovery automations; the safety net's schedule is off, so only the automations and the crash hook can start it.
Prefect's server runs on PostgreSQL where it can (``drill_prefect``)."""

from __future__ import annotations

import shutil
import signal
import time

import numpy as np
import pytest

from changeflow import State
from changeflow.bootstrap import bootstrap
from changeflow.domain.request import ChangeRequest
from changeflow.local import drills
from changeflow.local.drills import Installation, await_record, await_recovery, kill_at_step, safety_net_pid
from changeflow.local.processes import signal_group
from changeflow.settings.loader import load_change_request, load_governance
from tests.conftest import EXAMPLES

pytestmark = [pytest.mark.triton, pytest.mark.slow]
X = np.array([[0.5, -1.0, 2.0, 0.25]], dtype=np.float32)


@pytest.fixture(scope="module")
def drill_prefect(request, tmp_path_factory):
    """Prefect's server for the drills: on PostgreSQL where it can run, else the session's SQLite test server.
    Prefect's SQLite server, under this load, now and then keeps a write lock until another writer's 60 s
    busy timeout (measured: ``database is locked`` after 60136 ms, and a safety net submitted 66 s late);
    the drills measure changeflow's recovery, not that stall. ``make bench-faults`` runs on SQLite."""
    from changeflow.local.postgres import missing_reason

    if missing_reason() is not None:
        yield request.getfixturevalue("prefect_server")
        return
    with drills.prefect_on_postgres(
        request.getfixturevalue("postgres"), tmp_path_factory.mktemp("prefect-drills")
    ) as api_url:
        lock_clients_follow_the_api()
        try:
            yield api_url
        finally:
            lock_clients_follow_the_api()


def lock_clients_follow_the_api() -> None:
    """Prefect acquires concurrency slots through one service per limit, whose client is bound to the API of
    its first use: in a process that moves to another Prefect server (this module does, the rest of the
    session does not), an acquisition would go to the old server and its release to the new one. Stopping
    the services makes the next acquisition start one on the current API."""
    from prefect.concurrency.services import ConcurrencySlotAcquisitionWithLeaseService

    ConcurrencySlotAcquisitionWithLeaseService.drain_all(timeout=10)


@pytest.fixture(scope="module")
def drill(staging_process, drill_prefect, tmp_path_factory):
    """A production Triton of its own (one test kills it), staging, records, and the installation."""
    from changeflow.local.triton_server import TritonServer
    from changeflow.settings.environment import BakeSettings, Environment, RecordStoreSettings

    workdir = tmp_path_factory.mktemp("drill")
    shutil.copytree(EXAMPLES / "model_repository", workdir / "model_repository")
    production = TritonServer(
        workdir / "model_repository", name="drill-production", workdir=workdir, load_models=["classifier"]
    ).start()
    environment = Environment(
        production=production.endpoint("production"),
        staging=staging_process.endpoint("staging"),
        records=RecordStoreSettings(url=f"sqlite:///{workdir / 'records.db'}", publish=False),
        bake=BakeSettings(
            interval_s=0.5, probes_per_sample=20, smoke_requests=1000
        ),  # smoke tests take seconds: a kill lands in them
    )
    governance = load_governance(EXAMPLES, approval_timeout_s=120, approval_poll_s=1)
    with Installation(environment, governance) as installation:
        yield installation, production
    production.stop()


def emergency(change_id: str, to_version: int = 2, bake_seconds: int = 60) -> ChangeRequest:
    data = load_change_request(EXAMPLES / "changes" / "normal-deploy-v2.yaml").model_dump(mode="json")
    data["change"].update(to_version=to_version, bake_seconds=bake_seconds)
    return ChangeRequest.model_validate({**data, "id": change_id, "type": "emergency"})


def run_and_kill(installation, request: ChangeRequest, step: str, after_touching: bool = False):
    return bootstrap(installation.environment), drills.run_and_kill(
        installation, request, step, "oscar", after_touching
    )


def assert_recovered(services, request: ChangeRequest, kill, expected: State):
    recovery = await_recovery(
        services.records, services.production, services.locks, request.id, "classifier", 1, kill, timeout_s=150
    )
    record = services.records.load(request.id)
    assert record.state is expected, (record.state, record.outcome)
    assert services.production.infer("classifier", {"INPUT": X}).model_version == 1
    if expected is State.ROLLED_BACK:
        assert (
            record.rollback_steps
            and record.rollback_steps[-1].name == "verify_restored"
            and "safety net" in record.outcome + record.transitions[-1].reason
        )
    else:
        assert "before production was touched" in record.transitions[-1].reason
    assert recovery.seconds <= 90, recovery
    print(f"{request.id}: killed in {kill.step}, {recovery.state} after {recovery.seconds:.1f}s")
    return record


@pytest.mark.parametrize(
    "step, touched", [("stage", False), ("validate", False), ("promote", True), ("smoke_test", True), ("monitor", True)]
)
def test_an_executor_killed_at_any_step_is_settled_with_nobody_running_a_command(drill, step, touched):
    installation, _ = drill
    staging = bootstrap(installation.environment).staging
    if step == "stage" and staging.ready_versions("classifier"):
        staging.unload("classifier")  # staging loads v2 cold (over a second): the kill lands while it does
    request = emergency(f"CHG-81{['stage', 'validate', 'promote', 'smoke_test', 'monitor'].index(step):02d}")
    services, kill = run_and_kill(
        installation, request, step, after_touching=touched
    )  # promote says so just after it starts
    if step != "validate":  # long enough steps: the kill lands in them
        assert kill.step == step, kill
    assert kill.production_touched is touched or step == "validate", kill
    assert_recovered(services, request, kill, State.ROLLED_BACK if kill.production_touched else State.ABORTED)


def test_the_crash_hook_alone_starts_the_safety_net(drill):
    """With the automations paused (and no schedule), only the governed flow's *on_crashed* hook, which the
    worker runs, can start the safety net: Prefect's trigger service may drop the Crashed event on SQLite."""
    installation, _ = drill
    request = emergency("CHG-8500")
    with installation.automations_paused():
        services, kill = run_and_kill(installation, request, "monitor")
        assert kill.production_touched, kill
        assert_recovered(services, request, kill, State.ROLLED_BACK)


def test_an_executor_killed_in_its_own_rollback_is_rolled_back_by_the_safety_net(drill):
    installation, _ = drill
    request = emergency("CHG-8200", to_version=5)  # v5 is slower: the bake fails and the executor rolls back
    services, kill = run_and_kill(installation, request, "verify_restored")
    assert kill.production_touched and kill.step == "verify_restored", kill
    assert_recovered(services, request, kill, State.ROLLED_BACK)


def test_the_safety_net_killed_in_its_own_restore_is_run_again(drill):
    installation, _ = drill
    request = emergency("CHG-8300")
    services, kill = run_and_kill(installation, request, "monitor")
    net = safety_net_pid(installation.ids["safety-net"])
    second = kill_at_step(services.records, request.id, "verify_restored", timeout_s=60, pid_of=lambda record: net)
    assert second.pid != kill.pid
    record = assert_recovered(services, request, second, State.ROLLED_BACK)
    assert (
        len([s for s in record.rollback_steps if s.name == "restore_version"]) >= 2
    )  # the second safety net did it again


def test_production_killed_mid_bake_is_restored_when_it_returns(drill):
    installation, production = drill
    request = emergency("CHG-8400")
    services = bootstrap(installation.environment)
    drills.start_approved(installation, request, "monitor", "oscar")
    signal_group(production.process.pid, signal.SIGKILL)  # production dies; its supervisor restarts it later
    production.process.wait()
    production.process = None
    try:
        said = await_record(
            services.records, request.id, lambda r: "PRODUCTION NEEDS ATTENTION" in (r.outcome or ""), 120, poll_s=0.2
        )
        assert said.state is State.VERIFYING and "unreachable" in said.outcome  # the record says so, it is not closed
    finally:  # even when the note came late: a safety net left waiting for production would hold classifier's lock for minutes
        production.start()  # the supervisor brings it back: nobody runs a changeflow command
    record = await_record(services.records, request.id, lambda r: r.is_terminal, 120, poll_s=0.2)
    assert record.state is State.ROLLED_BACK, record.outcome
    assert services.production.ready_versions("classifier") == [1]
    assert services.production.infer("classifier", {"INPUT": X}).model_version == 1
    with services.locks.hold("classifier", timeout_s=20):
        pass


def test_a_run_that_brings_its_own_rules_clock_environment_or_variables_is_refused(drill):
    """The requester's powers: a run of the deployment carries the change request and nothing else. Sent
    through the Prefect API (what the UI, a script or a CI job can do), governance, a clock or an
    environment of the run's are refused on the record before anything is assessed; job variables (which
    would change the worker's process) fail the run. Production is asked afterwards."""
    from prefect.client.orchestration import get_client

    installation, _ = drill
    services = bootstrap(installation.environment)
    attempts = {
        "CHG-8601": (
            {
                "governance": {
                    "require_proof": False,
                    "approvers": {"change_advisory_board": ["bob", "eve"], "emergency_approvers": ["eve"]},
                }
            },
            None,
        ),
        "CHG-8602": ({"now": "2026-11-25T22:00:00+01:00"}, None),
        "CHG-8603": ({"environment": installation.environment.model_dump(mode="json")}, None),
        "CHG-8604": ({}, {"env": {"CHANGEFLOW_GOVERNANCE": "/tmp/her-own-governance"}}),
    }
    runs = {}
    with get_client(sync_client=True) as client:
        for change_id, (extra, job_variables) in attempts.items():
            parameters = {"request": emergency(change_id).model_dump(mode="json"), **extra}
            runs[change_id] = client.create_flow_run_from_deployment(
                installation.ids["emergency"], parameters=parameters, job_variables=job_variables
            ).id
    for change_id, sent in (("CHG-8601", "governance"), ("CHG-8602", "now"), ("CHG-8603", "environment")):
        record = await_record(services.records, change_id, lambda r: r.is_terminal, timeout_s=120)
        assert record.state is State.REJECTED and record.transitions[-1].reason.startswith(
            "refused: run parameter(s)"
        ), record.transitions[-1]
        assert sent in record.transitions[-1].reason and not record.execution_steps and not record.approvals
    with get_client(sync_client=True) as client:
        deadline = time.monotonic() + 120
        while (state := client.read_flow_run(runs["CHG-8604"]).state) is None or not state.is_final():
            assert time.monotonic() < deadline, state
            time.sleep(1)
    assert state.is_failed() and "job variable(s) env" in (state.message or ""), state
    assert services.production.ready_versions("classifier") == [1]
    assert services.production.infer("classifier", {"INPUT": X}).model_version == 1

"""The guarded process worker against a real Prefect server (#23): a holder of the API credential edits a
deployment, a run or the work pool so that Prefect's stock process worker would run her command as the
executor. The guarded worker refuses each before any process starts, and still runs changeflow's own
deployments as ``deploy_change_flows`` made them. One server, one worker (``LocalWorkers``, as the
distributed tests and the demo start it) for the module; the decision itself (``refusal``) is also checked
alone, without a server."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

POOL = "changeflow-guarded"
NET = "safety-net"  # no required parameter, settles nothing on an empty record store: the lightest legit run
SOURCE = Path(__file__).resolve().parents[2]
ENTRYPOINTS = frozenset({"flows/safety.py:safety_net", "flows/drift.py:drift_check"})


def deployed(**changes):
    """A deployment as ``deploy_change_flows`` makes it (the fields the guard reads), with ``changes``."""
    from types import SimpleNamespace

    fields = {
        "entrypoint": "flows/safety.py:safety_net",
        "path": None,
        "storage_document_id": None,
        "job_variables": {},
        "pull_steps": [{"prefect.deployments.steps.set_working_directory": {"directory": str(SOURCE)}}],
    }
    return SimpleNamespace(**{**fields, **changes})


def test_a_deployment_as_deployed_is_not_refused_and_an_empty_template_is_the_default():
    from changeflow.adapters.prefect_worker import default_template, refusal

    for template in ({}, None, default_template()):
        assert refusal(deployed(), {}, template, SOURCE, ENTRYPOINTS) is None


def test_each_difference_is_named():
    from changeflow.adapters.prefect_worker import default_template, refusal

    def why(deployment, run_variables=None, template=None):
        message = refusal(deployment, run_variables, template, SOURCE, ENTRYPOINTS)
        assert (
            message is not None
            and message.startswith("refused by the executor: ")
            and message.endswith("nothing was started")
        )
        return message

    assert "entrypoint: the run has no deployment" in why(None)
    assert "entrypoint 'flows/evil.py:evil'" in why(deployed(entrypoint="flows/evil.py:evil"))
    shell = {"prefect.deployments.steps.run_shell_script": {"script": "touch /tmp/x"}}
    for steps in (
        [shell, *deployed().pull_steps],
        [],
        None,
        [{"prefect.deployments.steps.set_working_directory": {"directory": "/tmp"}}],
        [{"prefect.deployments.steps.set_working_directory": {"directory": str(SOURCE), "extra": 1}}],
    ):
        assert "pull steps" in why(deployed(pull_steps=steps)), steps
    assert "pull steps" in why(deployed(path="/tmp")) and "pull steps" in why(
        deployed(storage_document_id="00000000-0000-0000-0000-000000000001")
    )
    assert "job variable(s) command, env on the deployment" in why(deployed(job_variables={"env": {}, "command": "x"}))
    assert "job variable(s) working_dir on the flow run" in why(deployed(), {"working_dir": "/tmp"})
    template = default_template()
    template["job_configuration"]["command"] = "touch /tmp/x"
    template["variables"]["properties"]["env"]["default"] = {"PYTHONPATH": "/tmp"}
    assert (
        "base job template of the work pool differs from Prefect's process default in job_configuration.command, variables.env"
        in why(deployed(), None, template)
    )
    several = why(deployed(entrypoint="x.py:y", job_variables={"command": "x"}), {"env": {}}, template)
    assert all(part in several for part in ("entrypoint", "on the deployment", "on the flow run", "base job template"))


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from changeflow.local.executor import executor_configuration
    from changeflow.local.prefect_server import LocalPrefectServer
    from changeflow.local.serve import deploy_change_flows
    from changeflow.local.workers import LocalWorkers
    from changeflow.settings.environment import (
        Environment,
        RecordStoreSettings,
        ServerEndpoint,
    )
    from changeflow.settings.loader import load_governance
    from tests.conftest import EXAMPLES

    home = tmp_path_factory.mktemp("guarded")
    environment = Environment(  # no Triton is reached: the safety net finds no change to settle
        production=ServerEndpoint(
            name="production", http_url="http://127.0.0.1:9", metrics_url="http://127.0.0.1:9/metrics"
        ),
        staging=ServerEndpoint(
            name="staging", http_url="http://127.0.0.1:10", metrics_url="http://127.0.0.1:10/metrics"
        ),
        records=RecordStoreSettings(url=f"sqlite:///{home / 'records.db'}", publish=False),
    )
    worker_env = executor_configuration(home / "executor", environment, load_governance(EXAMPLES))
    with LocalPrefectServer() as server, temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        ids = deploy_change_flows(safety_net_every_s=None, pool=POOL, drift_every_s=None)
        with LocalWorkers(POOL, count=1, env={**worker_env, **server.client_env}, poll_s=1.0) as workers:
            yield ids, workers


def client():
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


def run_to_the_end(deployment_id: str, job_variables: dict | None = None, timeout_s: float = 180.0):
    with client() as c:
        run = c.create_flow_run_from_deployment(deployment_id, job_variables=job_variables)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            run = c.read_flow_run(run.id)
            if run.state is not None and run.state.is_final():
                return run
            time.sleep(0.5)
    raise AssertionError(f"flow run {run.id} not final after {timeout_s}s: {run.state}")


def assert_refused(run, workers, marker: Path, *names: str) -> None:
    message = run.state.message or ""
    assert run.state.is_failed() and message.startswith("refused by the executor:"), (run.state.type, message)
    for name in names:
        assert name in message, message
    assert not marker.exists(), "the requester's command ran as the executor"
    log = workers.log(0).read_text(errors="replace")
    assert f"submitting flow run '{run.id}'" in log and "refused by the executor:" in log
    assert (
        "submitted to infrastructure"
        not in log.split(f"submitting flow run '{run.id}'")[1].split("submitting flow run")[0]
    )


@pytest.mark.slow
def test_edited_pull_steps_are_refused_and_never_run(guarded, tmp_path):
    from prefect.client.schemas.actions import DeploymentUpdate

    ids, workers = guarded
    marker = tmp_path / "MARKER"
    with client() as c:
        deployed = c.read_deployment(ids[NET]).pull_steps
        c.update_deployment(
            ids[NET],
            DeploymentUpdate(
                pull_steps=[{"prefect.deployments.steps.run_shell_script": {"script": f"touch {marker}"}}, *deployed]
            ),
        )
    try:
        run = run_to_the_end(ids[NET])
    finally:
        with client() as c:
            c.update_deployment(ids[NET], DeploymentUpdate(pull_steps=deployed))
    assert_refused(run, workers, marker, "pull steps")


@pytest.mark.slow
@pytest.mark.parametrize("where", ["flow run", "deployment"])
def test_a_command_in_job_variables_is_refused_and_never_run(guarded, tmp_path, where):
    from prefect.client.schemas.actions import DeploymentUpdate

    ids, workers = guarded
    marker = tmp_path / "MARKER"
    variables = {"command": f"touch {marker}"}
    if where == "flow run":
        run = run_to_the_end(ids[NET], job_variables=variables)
    else:
        with client() as c:
            c.update_deployment(ids[NET], DeploymentUpdate(job_variables=variables))
        try:
            run = run_to_the_end(ids[NET])
        finally:
            with client() as c:
                c.update_deployment(ids[NET], DeploymentUpdate(job_variables={}))
    assert_refused(run, workers, marker, "job variable(s) command", f"on the {where}")


@pytest.mark.slow
def test_an_edited_base_job_template_is_refused_and_never_run(guarded, tmp_path):
    from prefect.client.schemas.actions import WorkPoolUpdate
    from prefect.workers.process import ProcessWorker

    ids, workers = guarded
    marker = tmp_path / "MARKER"
    template = ProcessWorker.get_default_base_job_template()
    template["job_configuration"]["command"] = f"touch {marker}"
    with client() as c:
        before = c.read_work_pool(POOL).base_job_template
        c.update_work_pool(POOL, WorkPoolUpdate(base_job_template=template))
    try:
        run = run_to_the_end(ids[NET])
    finally:
        with client() as c:
            c.update_work_pool(
                POOL, WorkPoolUpdate(base_job_template=before or ProcessWorker.get_default_base_job_template())
            )
    assert_refused(run, workers, marker, "base job template", "job_configuration.command")


@pytest.mark.slow
def test_another_entrypoint_is_refused_and_never_run(guarded, tmp_path):
    from prefect.client.schemas.actions import DeploymentUpdate

    ids, workers = guarded
    marker = tmp_path / "MARKER"
    evil = tmp_path / "evil.py"
    evil.write_text(
        f"from pathlib import Path\nfrom prefect import flow\n\n@flow(name='safety-net')\ndef evil():\n    Path({str(marker)!r}).touch()\n"
    )
    with client() as c:
        deployed = c.read_deployment(ids[NET]).entrypoint
        c.update_deployment(ids[NET], DeploymentUpdate(entrypoint=f"{evil}:evil"))
    try:
        run = run_to_the_end(ids[NET])
    finally:
        with client() as c:
            c.update_deployment(ids[NET], DeploymentUpdate(entrypoint=deployed))
    assert_refused(run, workers, marker, "entrypoint", str(evil))


@pytest.mark.slow
def test_a_changeflow_deployment_as_deployed_runs(guarded):
    ids, workers = guarded
    run = run_to_the_end(ids[NET])
    assert run.state.is_completed(), (run.state.type, run.state.message)
    assert "housekeeping" in run.tags  # the safety net's runs can be filtered out of the runs list (#27)
    assert workers.ran(str(run.id)) == [0]

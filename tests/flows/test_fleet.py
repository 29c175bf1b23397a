"""Production as a fleet of real Tritons: what a change leaves is in the model repository, so a replica
SIGKILLed and started again with the same command line (a pod restart, an OOM kill) or a replica added
later serves what the change reached; a replica that refuses the promote is named and every replica is
restored. Each replica is asked directly afterwards."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from changeflow.flows.model_deployment import model_deployment

from changeflow import State
from changeflow.bootstrap import model_server, record_store
from changeflow.domain.model_config import parse_config, policy_versions
from changeflow.local.processes import signal_group
from tests.conftest import EXAMPLES
from tests.flows.helpers import change

pytestmark = pytest.mark.triton
X = np.array([[0.5, -1.0, 2.0, 0.25]], dtype=np.float32)


def start(folder, name, workdir):
    from changeflow.local.triton_server import TritonServer

    return TritonServer(folder, name=name, workdir=workdir, load_models=["classifier"]).start()


def environment_of(servers, staging_process, tmp_path, shared=None):
    from changeflow.settings.environment import BakeSettings, Environment, RecordStoreSettings, Replica, ServerEndpoint

    replicas = [
        Replica(
            name=s.name,
            http_url=s.http_url,
            metrics_url=s.metrics_url,
            grpc_url=s.grpc_url,
            repository=None if shared else s.repository,
        )
        for s in servers
    ]
    return Environment(
        production=ServerEndpoint(
            name="production",
            http_url=servers[0].http_url,
            grpc_url=servers[0].grpc_url,
            repository=shared,
            replicas=replicas,
        ),
        staging=staging_process.endpoint("staging"),
        records=RecordStoreSettings(url=f"sqlite:///{tmp_path / 'records.db'}", publish=False),
        bake=BakeSettings(interval_s=0.5, probes_per_sample=20, smoke_requests=10),
    )


def at_once():
    """The examples' governance with every change type promoting to every replica at once (no waves)."""
    from changeflow.settings.loader import load_governance

    governance = load_governance(EXAMPLES)
    return governance.model_copy(update={"verification": governance.verification.model_copy(update={"waves": {}})})


def killed_and_started_again(server):
    """SIGKILL, then the same command line (same ports, same repository): what a pod restart does."""
    command = server._command(server.workdir / "backends")
    signal_group(server.process.pid, 9)
    server.process.wait()
    server.process = None
    server.start()
    assert server._command(server.workdir / "backends") == command


def serves(server) -> tuple[list[int], int]:
    """What one replica serves, asked directly: its READY versions and who answers an unversioned request."""
    replica = model_server(server.endpoint(server.name))
    return replica.ready_versions("classifier"), replica.infer("classifier", {"INPUT": X}).model_version


@pytest.fixture(scope="module")
def fleet_servers(tmp_path_factory):
    """Three production Tritons over one repository folder (a shared volume), for the module: starting them
    once keeps the suite's time; each test gets them back on v1 with the original file (``shared_fleet``)."""
    root = tmp_path_factory.mktemp("fleet")
    shared = root / "model_repository"
    shutil.copytree(EXAMPLES / "model_repository", shared, ignore=shutil.ignore_patterns("__pycache__"))
    servers = []
    try:
        for name in ("p1", "p2", "p3"):
            servers.append(start(shared, name, root / name))
        yield servers, shared, (shared / "classifier" / "config.pbtxt").read_text()
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def shared_fleet(fleet_servers, tmp_path, staging_process, prefect_server):
    """The module's fleet, its file and every replica back on v1 (a restarted one started again), and a fresh
    record database."""
    from changeflow.domain.model_config import parse_config as parse

    servers, shared, original = fleet_servers
    (shared / "classifier" / "config.pbtxt").write_text(original)
    for server in servers:
        if server.process is None or server.process.poll() is not None:
            server.process = None
            server.start()
        model_server(server.endpoint(server.name)).load("classifier", parse(original))
    return servers, environment_of(servers, staging_process, tmp_path, shared=shared), shared


def test_a_closed_change_holds_after_a_restart_and_on_a_replica_added_later(shared_fleet, tmp_path):
    servers, environment, shared = shared_fleet
    result = model_deployment(
        change("normal-deploy-v2.yaml", change={"bake_seconds": 2}), environment, governance=at_once()
    )
    assert result.state is State.CLOSED, result.outcome
    assert [serves(s) for s in servers] == [([2], 2)] * 3
    assert policy_versions(parse_config((shared / "classifier" / "config.pbtxt").read_text())) == [2]
    record = record_store(environment.records).load("CHG-0002")
    promote = record.execution_steps[-1]
    assert "written to the repository and loaded on every replica" in promote.detail
    assert all(f"{name}: [1, 2] READY" in promote.detail for name in ("p1", "p2", "p3"))

    killed_and_started_again(servers[0])
    assert serves(servers[0]) == ([2], 2)  # not v1, which it was started with
    added = start(shared, "p4", tmp_path / "p4")  # a scale-up
    try:
        assert serves(added) == ([2], 2)
    finally:
        added.stop()


def discovered(environment, kube, servers):
    """``environment`` with production's replicas read from a Service's EndpointSlices on a Kubernetes API
    (kmock on loopback): one slice per replica, since each listens on its own ports on this machine."""
    from changeflow.settings.discovery import ReplicaDiscovery
    from changeflow.settings.environment import ClusterSettings

    for server in servers:
        kube.discovery.create_namespaced_endpoint_slice(
            "inference",
            {
                "metadata": {"name": f"triton-{server.name}", "labels": {"kubernetes.io/service-name": "triton"}},
                "addressType": "IPv4",
                "ports": [
                    {"name": "http", "port": int(server.http_url.rsplit(":", 1)[1])},
                    {"name": "metrics", "port": int(server.metrics_url.split(":")[2].split("/")[0])},
                ],
                "endpoints": [
                    {"addresses": ["127.0.0.1"], "conditions": {"ready": True}, "targetRef": {"name": server.name}}
                ],
            },
        )
    production = environment.production.model_copy(
        update={"replicas": [], "discover": ReplicaDiscovery(service="triton", namespace="inference")}
    )
    return environment.model_copy(update={"production": production, "cluster": ClusterSettings(host=kube.url)})


def test_a_streaming_model_is_deployed_to_every_replica_and_each_streams_the_new_version(shared_fleet):
    """#26: a decoupled model through the fleet as any other: staged, baked over each replica's gRPC stream
    and promoted everywhere; each replica, asked directly over its own stream, then serves only v2."""
    servers, environment, shared = shared_fleet
    config_file = shared / "generator" / "config.pbtxt"
    original = config_file.read_text()
    replicas = [model_server(s.endpoint(s.name)) for s in servers]
    try:
        for replica in replicas:
            replica.load("generator", parse_config(original))
        result = model_deployment(
            change("normal-deploy-generator-v2.yaml", change={"bake_seconds": 6}), environment, governance=at_once()
        )
        assert result.state is State.CLOSED, result.outcome
        prompt = {"PROMPT": np.array([b"It was the"], dtype=object)}
        for replica in replicas:
            stream = replica.infer("generator", prompt).stream
            assert replica.ready_versions("generator") == [2] and stream.completed and len(stream.outputs) == 16
        assert policy_versions(parse_config(config_file.read_text())) == [2]
    finally:
        config_file.write_text(original)
        for replica in replicas:
            replica.unload("generator")


def test_a_rolled_back_change_holds_after_a_restart_on_replicas_discovered_from_endpoint_slices(shared_fleet):
    from tests.kube import KubeLoopback

    servers, environment, shared = shared_fleet
    with KubeLoopback() as kube:
        environment = discovered(environment, kube, servers)
        result = model_deployment(
            change("normal-deploy-v4.yaml", change={"from_version": 1}), environment, governance=at_once()
        )
    assert result.state is State.ROLLED_BACK, result.outcome
    promote = next(
        s for s in record_store(environment.records).load(result.change_id).execution_steps if s.name == "promote"
    )
    assert all(f"{name}: [1, 4] READY" in promote.detail for name in ("p1", "p2", "p3"))  # the pods it found
    assert policy_versions(parse_config((shared / "classifier" / "config.pbtxt").read_text())) == [1]
    killed_and_started_again(servers[1])
    assert [serves(s) for s in servers] == [([1], 1)] * 3  # not v4, the highest version on disk


def test_a_replica_that_refuses_the_promote_is_named_and_every_replica_is_restored(
    tmp_path, staging_process, prefect_server
):
    """Three replicas, each with its own repository folder; the third lacks v2 (a volume not yet synced)."""
    servers = []
    try:
        for name in ("p1", "p2", "p3"):
            folder = tmp_path / name / "model_repository"
            shutil.copytree(EXAMPLES / "model_repository", folder, ignore=shutil.ignore_patterns("__pycache__"))
            if name == "p3":
                shutil.rmtree(folder / "classifier" / "2")
            servers.append(start(folder, name, tmp_path / name))
        environment = environment_of(servers, staging_process, tmp_path)
        with pytest.raises(Exception, match="not loaded on p3"):  # the run fails; the record says what was done
            model_deployment(
                change("normal-deploy-v2.yaml", change={"bake_seconds": 2}), environment, governance=at_once()
            )
        record = record_store(environment.records).load("CHG-0002")
        assert record.state is State.ROLLED_BACK and record.production_touched
        assert [serves(s) for s in servers] == [([1], 1)] * 3
        for server in servers:
            assert policy_versions(parse_config((server.repository / "classifier" / "config.pbtxt").read_text())) == [1]
        promote = record.execution_steps[-1]
        assert promote.name == "promote" and promote.outcome == "failed"
        assert "not loaded on p3" in promote.detail and "p1: [1, 2] READY" in promote.detail
        assert [s.outcome for s in record.rollback_steps] == ["ok", "ok"]
    finally:
        for server in servers:
            server.stop()


def test_the_first_wave_is_the_canary_a_bad_candidate_is_rolled_back_from_it_and_a_good_one_widens(shared_fleet):
    """Three replicas, governance's waves for normal changes [1, 100%]: v4 fails the bake on the canary and
    never reaches the other two; v2 passes it, widens, and every replica serves it."""
    from changeflow.domain.request import ChangeType
    from changeflow.settings.loader import load_governance

    servers, environment, shared = shared_fleet
    governance = load_governance(EXAMPLES)
    governance = governance.model_copy(
        update={"verification": governance.verification.model_copy(update={"waves": {ChangeType.NORMAL: (1, "100%")}})}
    )
    bad = model_deployment(
        change("normal-deploy-v4.yaml", change={"from_version": 1}), environment, governance=governance
    )
    assert bad.state is State.ROLLED_BACK, bad.outcome
    record = record_store(environment.records).load("CHG-0004")
    assert [s.name for s in record.verification_steps] == ["smoke_test", "monitor"]  # no widen
    monitor = record.verification_steps[-1]
    assert monitor.outcome == "failed" and "wave 1 of 2 (1 of 3 replicas)" in monitor.detail
    assert "v4 answered" in monitor.detail
    assert [serves(s) for s in servers] == [([1], 1)] * 3

    good = model_deployment(
        change("normal-deploy-v2.yaml", change={"bake_seconds": 2}), environment, governance=governance
    )
    assert good.state is State.CLOSED, good.outcome
    record = record_store(environment.records).load("CHG-0002")
    assert [s.name for s in record.verification_steps] == ["smoke_test", "monitor", "widen", "monitor", "finalize"]
    assert "wave 2 of 2 (3 of 3 replicas)" in record.verification_steps[3].detail
    assert [serves(s) for s in servers] == [([2], 2)] * 3


def test_a_candidate_bad_on_one_replica_only_is_rolled_back_on_all_naming_that_replica(
    tmp_path, staging_process, prefect_server
):
    """Each replica has its own folder; on p2, v2's code is v3's (wrong answers): staging validates the good v2,
    and the check of production finds p2, by name."""
    servers = []
    try:
        for name in ("p1", "p2"):
            folder = tmp_path / name / "model_repository"
            shutil.copytree(EXAMPLES / "model_repository", folder, ignore=shutil.ignore_patterns("__pycache__"))
            if name == "p2":
                shutil.copy(folder / "classifier" / "3" / "model.py", folder / "classifier" / "2" / "model.py")
            servers.append(start(folder, name, tmp_path / name))
        environment = environment_of(servers, staging_process, tmp_path)
        result = model_deployment(
            change("normal-deploy-v2.yaml", change={"bake_seconds": 5}), environment, governance=at_once()
        )
        assert result.state is State.ROLLED_BACK, result.outcome
        assert "(answered by p2)" in result.outcome and "answered by p1" not in result.outcome
        assert [serves(s) for s in servers] == [([1], 1)] * 2
    finally:
        for server in servers:
            server.stop()


def test_a_replica_restarted_mid_bake_leaves_the_fleet_and_the_repository_as_the_record_says(shared_fleet):
    """p2 is SIGKILLed during the bake and started again with the same command line: it loads [1, 2] from the
    repository. Whether the bake then passes or rolls back, every replica and the file end as the record says."""
    import threading

    from tests.flows.helpers import wait_for_step

    servers, environment, shared = shared_fleet
    store = record_store(environment.records)

    def deploy() -> None:  # the change runs beside; a server must be started by a thread that lives on
        try:  # a replica that stops answering mid-bake is an error of measurement: rolled back, the run fails
            model_deployment(
                change("normal-deploy-v2.yaml", change={"bake_seconds": 15}), environment, governance=at_once()
            )
        except Exception:
            pass

    running = threading.Thread(target=deploy)
    running.start()
    try:
        wait_for_step(store, "CHG-0002", "monitor")
        killed_and_started_again(servers[1])
    finally:
        running.join()
    record = store.load("CHG-0002")
    assert record.state in (State.CLOSED, State.ROLLED_BACK), record.outcome
    version = record.serving_version_after
    assert version == (2 if record.state is State.CLOSED else 1)
    assert [serves(s) for s in servers] == [([version], version)] * 3
    assert policy_versions(parse_config((shared / "classifier" / "config.pbtxt").read_text())) == [version]

"""Triton upgrade and blue-green through the official client against a Kubernetes API on loopback
(kmock's emulator; the tests play the controller), verified through real Triton endpoints."""

import json

import pytest
from changeflow.flows.blue_green import blue_green
from changeflow.flows.triton_upgrade import triton_upgrade

from changeflow import State
from changeflow.bootstrap import model_server, record_store
from changeflow.settings.environment import ClusterSettings
from changeflow.settings.loader import load_change_request
from tests.conftest import EXAMPLES
from tests.kube import Controller, KubeLoopback, deployment

pytestmark = pytest.mark.triton
# What each image serves, as classifier versions: 24.10 is a good upgrade, "bad" answers wrong.
TRACK_VERSIONS = {"triton:24.09": 1, "triton:24.10": 2, "triton:bad": 3, "triton:stall": 1, "triton:prod-bad": 2}
SERVICE_VERSIONS = {**TRACK_VERSIONS, "triton:prod-bad": 3}  # fine alone, wrong behind the production Service


@pytest.fixture
def kube(environment):
    with KubeLoopback() as cluster:
        yield (
            cluster,
            environment.model_copy(update={"cluster": ClusterSettings(host=cluster.url, poll_s=0.1, settle_s=3.0)}),
        )


def request(name, **change):
    base = load_change_request(EXAMPLES / "changes" / name)
    data = base.model_dump(mode="json")
    data["change"].update(change)
    return base.model_validate(data)


def serve_on(server):
    return lambda image: server.load_versions("classifier", [TRACK_VERSIONS[image]])


@pytest.fixture
def upgrade_cluster(kube):
    cluster, env = kube
    production = model_server(env.production)
    controller = Controller(
        cluster, "inference", stalled_images={"triton:stall"}, on_image=lambda name, image: serve_on(production)(image)
    )
    cluster.apps.create_namespaced_deployment("inference", deployment("triton", "triton", "triton:24.09"))
    controller.start()
    yield cluster, env, production
    controller.stop()


def image_of(cluster, name):
    return cluster.apps.read_namespaced_deployment(name, "inference").spec.template.spec.containers[0].image


def test_upgrade_rolls_out_and_is_verified(upgrade_cluster):
    cluster, env, production = upgrade_cluster
    result = triton_upgrade(request("triton-upgrade.yaml", image="triton:24.10", progress_deadline_seconds=20), env)
    assert result.state is State.CLOSED, result.outcome
    assert image_of(cluster, "triton") == "triton:24.10"
    record = record_store(env.records).load("CHG-0007")
    before = json.loads(record.attachments["pod-template.before"])
    assert before["template"]["spec"]["containers"][0]["image"] == "triton:24.09"
    assert [s.name for s in record.execution_steps] == ["record_template", "patch_image", "wait_rollout"]


def test_stalled_rollout_is_undone_to_the_previous_template(upgrade_cluster):
    cluster, env, production = upgrade_cluster
    result = triton_upgrade(request("triton-upgrade.yaml", image="triton:stall", progress_deadline_seconds=5), env)
    assert result.state is State.ROLLED_BACK
    assert "exceeded its progress deadline" in result.outcome
    assert image_of(cluster, "triton") == "triton:24.09"  # read back from the API
    record = record_store(env.records).load("CHG-0007")
    assert record.rollback_steps[0].detail == "deployment/triton template restored from ReplicaSet revision 1"


def test_failed_smoke_test_is_undone(upgrade_cluster):
    cluster, env, production = upgrade_cluster
    result = triton_upgrade(request("triton-upgrade.yaml", image="triton:bad", progress_deadline_seconds=20), env)
    assert result.state is State.ROLLED_BACK and "smoke requests failed" in result.outcome
    assert image_of(cluster, "triton") == "triton:24.09"
    assert (
        production.infer("classifier", {"INPUT": __import__("numpy").ones((1, 4), dtype="float32")}).model_version == 1
    )


@pytest.fixture
def blue_green_cluster(kube):
    cluster, env = kube
    production, staging = model_server(env.production), model_server(env.staging)
    production.load_versions("classifier", [1])
    base = production.model_config("classifier")

    def on_image(name, image):
        if name == "triton-green":  # green's own endpoint is the staging Triton
            staging.load_versions("classifier", [TRACK_VERSIONS[image]], base_config=base)

    controller = Controller(
        cluster,
        "inference",
        on_image=on_image,
        service="triton",
        on_service=lambda image: production.load_versions("classifier", [SERVICE_VERSIONS[image]]),
    )
    cluster.apps.create_namespaced_deployment("inference", deployment("triton-blue", "triton-blue", "triton:24.09"))
    blue_selector = {"app": "triton", "changeflow.io/track": "triton-blue"}
    cluster.core.create_namespaced_service(
        "inference",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "triton", "namespace": "inference"},
            "spec": {"selector": blue_selector, "ports": [{"port": 8000}]},
        },
    )
    controller.start()
    controller.wait_available("triton-blue")
    yield cluster, env, controller
    controller.stop()


def selector(cluster):
    return cluster.core.read_namespaced_service("triton", "inference").spec.selector["changeflow.io/track"]


def replicas(cluster, name):
    return cluster.apps.read_namespaced_deployment(name, "inference").spec.replicas


def test_blue_green_switches_and_retires_blue(blue_green_cluster):
    cluster, env, controller = blue_green_cluster
    result = blue_green(
        request("blue-green.yaml", image="triton:24.10", bake_seconds=2, progress_deadline_seconds=20), env
    )
    assert result.state is State.CLOSED, result.outcome
    assert selector(cluster) == "triton-green" and replicas(cluster, "triton-blue") == 0
    assert all(available > 0 for _, available in controller.selector_log), (
        "the Service selected no ready pods at some moment"
    )


def test_green_that_fails_validation_never_gets_traffic(blue_green_cluster):
    cluster, env, controller = blue_green_cluster
    result = blue_green(
        request("blue-green.yaml", image="triton:bad", bake_seconds=2, progress_deadline_seconds=20), env
    )
    assert result.state is State.ABORTED and "never left triton-blue" in result.outcome
    assert {s["changeflow.io/track"] for s, _ in controller.selector_log} == {"triton-blue"}
    assert replicas(cluster, "triton-blue") == 2
    assert replicas(cluster, "triton-green") == 0  # never served: not left running


def test_blue_green_rolls_back_after_the_switch(blue_green_cluster):
    cluster, env, controller = blue_green_cluster
    result = blue_green(
        request("blue-green.yaml", image="triton:prod-bad", bake_seconds=2, progress_deadline_seconds=20), env
    )
    assert result.state is State.ROLLED_BACK, result.outcome
    assert selector(cluster) == "triton-blue" and replicas(cluster, "triton-blue") == 2
    tracks = [s["changeflow.io/track"] for s, _ in controller.selector_log]
    assert "triton-green" in tracks and tracks[-1] == "triton-blue"
    assert all(available > 0 for _, available in controller.selector_log)

"""The Kubernetes adapter through the official client against an API on loopback (kmock), and the
pure rollout logic it relies on."""

import pytest

from changeflow.adapters.kubernetes import ClusterError, KubernetesCluster
from changeflow.domain.rollout import rollout_status, undo_template, with_image
from changeflow.settings.environment import ClusterSettings
from tests.kube import KubeLoopback, deployment


@pytest.fixture(scope="module")
def kube():
    with KubeLoopback() as cluster:
        cluster.apps.create_namespaced_deployment("inference", deployment("triton", "triton", "triton:24.09"))
        yield cluster


@pytest.fixture
def api(kube):
    return KubernetesCluster(ClusterSettings(host=kube.url))


def test_read_patch_and_services(api, kube):
    assert (
        api.read_deployment("inference", "triton")["spec"]["template"]["spec"]["containers"][0]["image"]
        == "triton:24.09"
    )
    template = with_image(api.read_deployment("inference", "triton")["spec"]["template"], "triton", "triton:24.10")
    api.patch_deployment("inference", "triton", {"spec": {"template": template}})
    assert (
        kube.apps.read_namespaced_deployment("triton", "inference").spec.template.spec.containers[0].image
        == "triton:24.10"
    )
    assert api.list_replica_sets("inference", {"app": "triton"}) == []


def test_not_found_and_conflict_are_one_line(api):
    with pytest.raises(ClusterError) as missing:
        api.read_deployment("inference", "nope")
    assert (
        str(missing.value)
        == "read deployment/nope in inference: not found; fix: check the namespace and the name in the change request"
    )
    with pytest.raises(
        ClusterError, match=r"^create deployment/triton in inference: conflict: .*fix: re-read and retry"
    ):
        api.create_deployment("inference", deployment("triton", "triton", "x"))


@pytest.mark.parametrize(
    "status, fix", [(401, "refresh the kubeconfig user or token"), (403, "apply deployments/rbac.yaml")]
)
def test_auth_errors_say_what_to_fix(kube, api, status, fix):
    kube.emulator[f"get /apis/apps/v1/namespaces/locked{status}/deployments/triton"] << status
    with pytest.raises(ClusterError, match=fix) as caught:
        api.read_deployment(f"locked{status}", "triton")
    assert "\n" not in str(caught.value)


def test_unreachable_api_is_one_line():
    api = KubernetesCluster(ClusterSettings(host="http://127.0.0.1:9", timeout_s=2))
    with pytest.raises(
        ClusterError, match=r"cannot reach the Kubernetes API at http://127.0.0.1:9 .*fix: check the cluster address"
    ):
        api.read_deployment("inference", "triton")


def test_bad_kubeconfig_is_one_line(tmp_path):
    with pytest.raises(ClusterError, match="cannot load Kubernetes configuration"):
        KubernetesCluster(ClusterSettings(kubeconfig=str(tmp_path / "missing-kubeconfig")))


def status(generation=2, observed=2, replicas=2, updated=2, available=2, stalled=False):
    conditions = [
        {"type": "Progressing", "reason": "ProgressDeadlineExceeded" if stalled else "NewReplicaSetAvailable"}
    ]
    return {
        "metadata": {"name": "triton", "generation": generation},
        "spec": {"replicas": 2},
        "status": {
            "observedGeneration": observed,
            "replicas": replicas,
            "updatedReplicas": updated,
            "availableReplicas": available,
            "conditions": conditions,
        },
    }


@pytest.mark.parametrize(
    "deployment_, done, failed, message",
    [
        (status(), True, False, "deployment triton successfully rolled out"),
        (status(generation=3), False, False, "waiting for deployment triton spec update to be observed"),
        (status(updated=1), False, False, "1 of 2 updated replicas"),
        (status(replicas=3), False, False, "1 old replicas are pending termination"),
        (status(available=1), False, False, "1 of 2 updated replicas are available"),
        (status(available=0, stalled=True), False, True, "deployment triton exceeded its progress deadline"),
    ],
)
def test_rollout_status_reads_like_kubectl(deployment_, done, failed, message):
    assert rollout_status(deployment_).model_dump() == {"done": done, "failed": failed, "message": message}


def test_undo_picks_the_newest_older_revision_without_the_hash_label():
    def rs(revision, image):
        return {
            "metadata": {"annotations": {"deployment.kubernetes.io/revision": str(revision)}},
            "spec": {
                "template": {
                    "metadata": {"labels": {"app": "t", "pod-template-hash": "h"}},
                    "spec": {"containers": [{"name": "c", "image": image}]},
                }
            },
        }

    current = {"metadata": {"name": "t", "annotations": {"deployment.kubernetes.io/revision": "3"}}}
    revision, template = undo_template(current, [rs(1, "a"), rs(2, "b"), rs(3, "c")])
    assert revision == 2 and template["spec"]["containers"][0]["image"] == "b"
    assert template["metadata"]["labels"] == {"app": "t"}
    assert undo_template(current, [rs(3, "c")]) is None
    with pytest.raises(ClusterError, match="no container 'x'"):
        with_image(template, "x", "img")

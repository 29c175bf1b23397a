"""Replicas discovered from a Service's EndpointSlices: read through the official client from a Kubernetes
API on loopback (kmock), ready pods only, named after their pods in a stable order, read again as pods
come and go, and refused in one line when the Service's ports are not what the environment says."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from changeflow.adapters.endpoint_slices import EndpointSliceRoster, replicas_from_slices
from changeflow.adapters.kubernetes import KubernetesCluster
from changeflow.exceptions import ClusterError, ServerUnavailable
from changeflow.settings.discovery import ReplicaDiscovery
from changeflow.settings.environment import ClusterSettings, Environment, ServerEndpoint
from tests.kube import KubeLoopback

TRITON = ReplicaDiscovery(service="triton", namespace="inference")


def endpoint(address, pod, ready=True, terminating=None):
    conditions = {"ready": ready, "serving": ready, "terminating": terminating}
    return {"addresses": [address], "conditions": conditions, "targetRef": {"kind": "Pod", "name": pod}}


def endpoint_slice(name, endpoints, service="triton", family="IPv4", ports=(("http", 8000), ("metrics", 8002))):
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": "inference", "labels": {"kubernetes.io/service-name": service}},
        "addressType": family,
        "ports": [{"name": n, "port": p, "protocol": "TCP"} for n, p in ports],
        "endpoints": endpoints,
    }


def test_ready_pods_are_the_replicas_in_name_order_once_each():
    slices = [
        endpoint_slice("triton-v6", [endpoint("fd00::7", "triton-b")], family="IPv6"),  # the same pod, dual-stack
        endpoint_slice(
            "triton-x1",
            [
                endpoint("10.0.0.7", "triton-b"),
                endpoint("10.0.0.5", "triton-a"),
                endpoint("10.0.0.9", "triton-c", ready=False),  # starting: loads the repository when it is up
                endpoint("10.0.0.8", "triton-d", ready=False, terminating=True),
            ],
        ),
        endpoint_slice("other-1", [endpoint("10.0.1.1", "other-a")], service="other"),  # another Service's
    ]
    replicas = replicas_from_slices(slices, TRITON)
    assert [(r.name, r.http_url, r.metrics_url) for r in replicas] == [
        ("triton-a", "http://10.0.0.5:8000", "http://10.0.0.5:8002/metrics"),
        ("triton-b", "http://10.0.0.7:8000", "http://10.0.0.7:8002/metrics"),
    ]


def test_an_ipv6_only_pod_and_port_numbers_given_by_number():
    discovery = ReplicaDiscovery(service="triton", namespace="inference", http_port=9000, metrics_port=None)
    [replica] = replicas_from_slices([endpoint_slice("s", [endpoint("fd00::7", "p")], family="IPv6")], discovery)
    assert (replica.http_url, replica.metrics_url) == ("http://[fd00::7]:9000", None)


def test_a_port_name_the_service_lacks_is_one_line_naming_the_ports_and_the_fix():
    slices = [endpoint_slice("s", [endpoint("10.0.0.5", "p")], ports=(("", 8000),))]
    with pytest.raises(ClusterError) as refused:
        replicas_from_slices(slices, TRITON)
    assert str(refused.value) == (
        "service/triton in inference: no port named 'http' in its EndpointSlices (ports: (unnamed)=8000); "
        "fix: set discover.http_port to one of those names or to the pod's port number"
    )


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_roster_reads_again_after_refresh_keeps_servers_and_uses_a_stale_list_only_for_a_while():
    listed = [[endpoint_slice("s", [endpoint("10.0.0.5", "a")])]]
    clock, built = Clock(), []

    def read():
        if isinstance(listed[0], Exception):
            raise listed[0]
        return listed[0]

    roster = EndpointSliceRoster(read, TRITON, lambda r: built.append(r.name) or r.name, clock)
    assert roster() == ["a"]
    listed[0] = [endpoint_slice("s", [endpoint("10.0.0.5", "a"), endpoint("10.0.0.6", "b")])]
    assert roster() == ["a"]  # within refresh_s the list is not read again
    clock.now = 5.0
    assert roster() == ["a", "b"] and built == ["a", "b"]  # a kept its server (its connection, its lane)
    listed[0] = ClusterError("list endpointslices: cannot reach the Kubernetes API")
    clock.now = 60.0
    assert roster() == ["a", "b"]  # the API is away: the last list, seen 55 s ago
    clock.now = 66.0
    with pytest.raises(ClusterError, match="cannot reach"):
        roster()
    listed[0] = [endpoint_slice("s", [endpoint("10.0.0.6", "b", ready=False)])]
    with pytest.raises(ServerUnavailable, match="no ready pod in its EndpointSlices"):
        roster()


def test_the_official_client_reads_the_services_slices_from_the_api():
    with KubeLoopback() as kube:
        for body in (
            endpoint_slice("triton-1", [endpoint("10.0.0.5", "triton-a")]),
            endpoint_slice("triton-2", [endpoint("10.0.0.6", "triton-b")], ports=(("http", 8010), ("metrics", 8012))),
            endpoint_slice("other-1", [endpoint("10.0.1.1", "other-a")], service="other"),
        ):
            kube.discovery.create_namespaced_endpoint_slice("inference", body)
        slices = KubernetesCluster(ClusterSettings(host=kube.url)).list_endpoint_slices("inference", "triton")
    assert sorted(s["metadata"]["name"] for s in slices) == ["triton-1", "triton-2"]
    assert [r.http_url for r in replicas_from_slices(slices, TRITON)] == [
        "http://10.0.0.5:8000",
        "http://10.0.0.6:8010",
    ]


def test_discovery_needs_a_cluster_and_is_not_given_beside_a_list():
    production = {"name": "production", "http_url": "http://triton.inference:8000", "discover": {"service": "triton"}}
    staging = {"name": "staging", "http_url": "http://127.0.0.1:9000"}
    with pytest.raises(ValidationError, match=r"production.discover: needs the Kubernetes API .* fix: add cluster:"):
        Environment.model_validate({"production": production, "staging": staging})
    assert Environment.model_validate({"production": production, "staging": staging, "cluster": {"in_cluster": True}})
    with pytest.raises(ValidationError, match="replicas and discover: give one"):
        ServerEndpoint.model_validate({**production, "replicas": [{"name": "a", "http_url": "http://10.0.0.5:8000"}]})

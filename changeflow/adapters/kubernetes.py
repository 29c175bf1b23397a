"""``Cluster`` over the official ``kubernetes`` client: Deployments, ReplicaSets and Services as dicts.

Configuration the standard ways: an explicit host (tests, proxies), in-cluster, or a kubeconfig file and
context. Every API failure becomes one ``ClusterError`` line that says what to fix.
"""

from __future__ import annotations

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import HTTPError as Urllib3Error

from changeflow.exceptions import ClusterError
from changeflow.settings.discovery import SERVICE_NAME_LABEL
from changeflow.settings.environment import ClusterSettings

_FIXES = {
    401: "unauthorized: the credentials were refused; fix: refresh the kubeconfig user or token",
    403: "forbidden: the identity lacks this permission; fix: apply deployments/rbac.yaml (Role and RoleBinding)",
    404: "not found; fix: check the namespace and the name in the change request",
    409: "conflict: the object changed or already exists; fix: re-read and retry the step",
}


def api_client(settings: ClusterSettings) -> k8s.ApiClient:
    configuration = k8s.Configuration()
    try:
        if settings.host:
            configuration.host = settings.host.rstrip("/")
            if settings.token:
                configuration.api_key = {"authorization": f"Bearer {settings.token}"}
            configuration.verify_ssl = settings.verify_ssl
        elif settings.in_cluster:
            k8s_config.load_incluster_config(client_configuration=configuration)
        else:
            k8s_config.load_kube_config(
                config_file=settings.kubeconfig, context=settings.context, client_configuration=configuration
            )
    except (ConfigException, OSError) as exc:
        raise ClusterError(
            f"cannot load Kubernetes configuration ({exc}); fix: set cluster.kubeconfig / context, or run in-cluster"
        ) from None
    configuration.retries = 1
    return k8s.ApiClient(configuration)


class KubernetesCluster:
    def __init__(self, settings: ClusterSettings) -> None:
        self.settings = settings
        self._api = api_client(settings)
        self._apps = k8s.AppsV1Api(self._api)
        self._core = k8s.CoreV1Api(self._api)
        self._discovery = k8s.DiscoveryV1Api(self._api)

    def _call(self, what: str, fn, *args, **kwargs) -> dict:
        try:
            result = fn(*args, _request_timeout=self.settings.timeout_s, **kwargs)
        except k8s.ApiException as exc:
            fix = _FIXES.get(exc.status, f"HTTP {exc.status} {exc.reason}")
            raise ClusterError(f"{what}: {fix}") from None
        except (Urllib3Error, OSError) as exc:
            raise ClusterError(
                f"{what}: cannot reach the Kubernetes API at {self._api.configuration.host} ({exc.__class__.__name__}); fix: check the cluster address and network"
            ) from None
        return self._api.sanitize_for_serialization(result)

    def read_deployment(self, namespace: str, name: str) -> dict:
        return self._call(
            f"read deployment/{name} in {namespace}", self._apps.read_namespaced_deployment, name, namespace
        )

    def patch_deployment(self, namespace: str, name: str, patch: dict) -> dict:
        return self._call(
            f"patch deployment/{name} in {namespace}", self._apps.patch_namespaced_deployment, name, namespace, patch
        )

    def create_deployment(self, namespace: str, body: dict) -> dict:
        name = body["metadata"]["name"]
        return self._call(
            f"create deployment/{name} in {namespace}", self._apps.create_namespaced_deployment, namespace, body
        )

    def list_replica_sets(self, namespace: str, selector: dict[str, str]) -> list[dict]:
        return self._list("replicasets", self._apps.list_namespaced_replica_set, namespace, selector)

    def list_endpoint_slices(self, namespace: str, service: str) -> list[dict]:
        """The EndpointSlices of ``service``: the pods it routes to, with their readiness and ports."""
        return self._list(
            "endpointslices", self._discovery.list_namespaced_endpoint_slice, namespace, {SERVICE_NAME_LABEL: service}
        )

    def _list(self, what: str, fn, namespace: str, selector: dict[str, str]) -> list[dict]:
        labels = ",".join(f"{k}={v}" for k, v in selector.items())
        try:
            found = self._call(f"list {what} ({labels}) in {namespace}", fn, namespace, label_selector=labels)
        except ClusterError as exc:
            if "not found" in str(exc):  # none at all (an API that has never seen one answers 404)
                return []
            raise
        items = found.get("items") or []
        # Filter here too: a selector the server ignores must not bring in other objects.
        return [
            item
            for item in items
            if all((item["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())
        ]

    def read_service(self, namespace: str, name: str) -> dict:
        return self._call(f"read service/{name} in {namespace}", self._core.read_namespaced_service, name, namespace)

    def patch_service(self, namespace: str, name: str, patch: dict) -> dict:
        return self._call(
            f"patch service/{name} in {namespace}", self._core.patch_namespaced_service, name, namespace, patch
        )

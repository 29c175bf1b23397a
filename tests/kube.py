"""A Kubernetes API on loopback (kmock's emulator) and a controller played by the tests.

The emulator stores objects but runs no controllers, so ``Controller`` does what the Deployment
controller would: on a new pod template it bumps ``metadata.generation``, creates a ReplicaSet with the
next ``deployment.kubernetes.io/revision`` (or re-stamps an old one on undo) and writes status, healthy
or stalled per image. It also plays the pods' behaviour: the image a track runs decides which classifier
version its Triton endpoint serves (``serve(image, endpoint)``), so smoke tests see real effects.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import threading
import time

import kmock
from kubernetes import client as k8s

REVISION = "deployment.kubernetes.io/revision"


class KubeLoopback:
    def __init__(self) -> None:
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        async with kmock.KubernetesEmulator() as emulator, kmock.Server(emulator) as server:
            self.emulator = emulator
            self.url, self._loop, self._stop = str(server.url).rstrip("/"), asyncio.get_running_loop(), asyncio.Event()
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> KubeLoopback:
        self._thread.start()
        assert self._ready.wait(10), "kmock server did not start"
        configuration = k8s.Configuration()
        configuration.host = self.url
        self.api = k8s.ApiClient(configuration)
        self.apps, self.core = k8s.AppsV1Api(self.api), k8s.CoreV1Api(self.api)
        self.discovery = k8s.DiscoveryV1Api(self.api)
        return self

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)


def template_hash(template: dict) -> str:
    clean = copy.deepcopy(template)
    (clean.get("metadata", {}).get("labels") or {}).pop("pod-template-hash", None)
    return hashlib.sha1(json.dumps(clean, sort_keys=True).encode()).hexdigest()[:10]


class Controller(threading.Thread):
    """Polls Deployments in ``namespace`` and answers as the Deployment controller would."""

    def __init__(
        self, cluster: KubeLoopback, namespace: str, stalled_images=(), on_image=None, service=None, on_service=None
    ) -> None:
        super().__init__(daemon=True)
        self.cluster, self.namespace = cluster, namespace
        self.stalled_images = set(stalled_images)
        self.on_image = on_image or (lambda deployment, image: None)
        self.service, self.on_service = service, on_service or (lambda image: None)
        self.running = True
        self.served: dict[str, str] = {}
        self.routed: str | None = None
        self.selector_log: list[tuple[dict, int]] = []  # (service selector, available pods it selects), per poll

    def wait_available(self, name: str, timeout_s: float = 10) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = self.cluster.apps.read_namespaced_deployment(name, self.namespace).status
            if status and status.available_replicas:
                self.selector_log.clear()  # what happened while the test cluster came up is not the change's doing
                return
            time.sleep(0.05)
        raise AssertionError(f"deployment/{name} never became available")

    def stop(self) -> None:
        self.running = False
        self.join(5)
        assert self.error is None, f"the test controller failed: {self.error!r}"

    def run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # a broken controller must fail the test, not hang it
            self.error = exc
            raise

    error: Exception | None = None

    def _loop(self) -> None:
        while self.running:
            deployments = [
                self.cluster.api.sanitize_for_serialization(d)
                for d in self.cluster.apps.list_namespaced_deployment(self.namespace).items
            ]
            for deployment in deployments:
                self.reconcile(deployment)
            if self.service:  # route on what the reconcile just wrote
                self.route(
                    [
                        self.cluster.api.sanitize_for_serialization(d)
                        for d in self.cluster.apps.list_namespaced_deployment(self.namespace).items
                    ]
                )
            time.sleep(0.05)

    def route(self, deployments: list[dict]) -> None:
        """Play the Service: which track's pods it selects decides what the serving endpoint runs."""
        selector = self.cluster.core.read_namespaced_service(self.service, self.namespace).spec.selector or {}
        selected = [
            d
            for d in deployments
            if selector and all(d["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in selector.items())
        ]
        available = sum((d.get("status") or {}).get("availableReplicas") or 0 for d in selected)
        self.selector_log.append((dict(selector), available))
        image = selected[0]["spec"]["template"]["spec"]["containers"][0]["image"] if len(selected) == 1 else None
        if image and image != self.routed:
            self.on_service(image)
            self.routed = image

    def reconcile(self, deployment: dict) -> None:
        apps, name = self.cluster.apps, deployment["metadata"]["name"]
        template = deployment["spec"]["template"]
        digest = template_hash(template)
        try:
            found = apps.list_namespaced_replica_set(self.namespace).items
        except k8s.ApiException as exc:  # the emulator knows no ReplicaSets until one is created
            if exc.status != 404:
                raise
            found = []
        replica_sets = [self.cluster.api.sanitize_for_serialization(rs) for rs in found]
        mine = [rs for rs in replica_sets if rs["metadata"]["name"].startswith(f"{name}-")]
        current = next((rs for rs in mine if rs["metadata"]["name"] == f"{name}-{digest}"), None)
        top = max((int(rs["metadata"]["annotations"][REVISION]) for rs in mine), default=0)
        generation = deployment["metadata"].get("generation") or 1
        if current is None or int(current["metadata"]["annotations"][REVISION]) < top:
            revision = top + 1  # a new template, or an old one rolled back to: it becomes the newest revision
            annotations = {REVISION: str(revision)}
            if current is None:
                labels = {**(template["metadata"].get("labels") or {}), "pod-template-hash": digest}
                body = {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "metadata": {
                        "name": f"{name}-{digest}",
                        "namespace": self.namespace,
                        "labels": labels,
                        "annotations": annotations,
                        "ownerReferences": [
                            {
                                "apiVersion": "apps/v1",
                                "kind": "Deployment",
                                "name": name,
                                "uid": deployment["metadata"].get("uid", name),
                            }
                        ],
                    },
                    "spec": {
                        "replicas": deployment["spec"].get("replicas", 1),
                        "selector": deployment["spec"]["selector"],
                        "template": {**template, "metadata": {**template.get("metadata", {}), "labels": labels}},
                    },
                }
                apps.create_namespaced_replica_set(self.namespace, body)
            else:
                apps.patch_namespaced_replica_set(
                    current["metadata"]["name"], self.namespace, {"metadata": {"annotations": annotations}}
                )
            generation = (deployment["metadata"].get("generation") or 0) + 1
            apps.patch_namespaced_deployment(
                name, self.namespace, {"metadata": {"generation": generation, "annotations": annotations}}
            )
        image = template["spec"]["containers"][0]["image"]
        if self.served.get(name) != image:
            self.on_image(name, image)
            self.served[name] = image
        wanted = deployment["spec"].get("replicas", 1)
        if image in self.stalled_images:
            status = {
                "observedGeneration": generation,
                "replicas": wanted,
                "updatedReplicas": wanted,
                "availableReplicas": 0,
                "readyReplicas": 0,
                "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}],
            }
        else:
            status = {
                "observedGeneration": generation,
                "replicas": wanted,
                "updatedReplicas": wanted,
                "availableReplicas": wanted,
                "readyReplicas": wanted,
                "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}],
            }
        if deployment.get("status", {}) != status:
            apps.patch_namespaced_deployment_status(name, self.namespace, {"status": status})


def deployment(name: str, track: str, image: str, replicas: int = 2) -> dict:
    labels = {"app": "triton", "changeflow.io/track": track}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "inference", "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "progressDeadlineSeconds": 600,
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "triton", "image": image}]}},
        },
    }

"""A fleet's replicas read from a Kubernetes Service's EndpointSlices: the pods it routes to now.

Pods are rescheduled, scaled and restarted while a change runs, so the list is read again every
``refresh_s``: a pod that appears is asked by the next step (it loaded the repository's desired state
when it started), one that went is no longer asked. A replica seen before keeps its server object (its
connection and its lane). When the API does not answer, the last list serves for ``stale_s``; after
that a step fails rather than change a fleet it cannot see.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from changeflow.exceptions import ClusterError, ServerUnavailable
from changeflow.ports import ModelServer
from changeflow.settings.discovery import SERVICE_NAME_LABEL, ReplicaDiscovery
from changeflow.settings.environment import Replica

log = logging.getLogger("changeflow.discovery")
_FAMILY_ORDER = {"IPv4": 0, "IPv6": 1, "FQDN": 2}  # a dual-stack pod is in one slice per family: IPv4 first


def _port(wanted: str | int | None, ports: dict[str, int], where: str, field: str) -> int | None:
    if wanted is None or isinstance(wanted, int):
        return wanted
    if wanted in ports:
        return ports[wanted]
    seen = ", ".join(f"{name or '(unnamed)'}={number}" for name, number in ports.items()) or "none"
    raise ClusterError(
        f"{where}: no port named {wanted!r} in its EndpointSlices (ports: {seen}); "
        f"fix: set discover.{field} to one of those names or to the pod's port number"
    )


def _url(scheme: str, host: str, port: int) -> str:
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def replicas_from_slices(slices: list[dict], discovery: ReplicaDiscovery) -> list[Replica]:
    """The ready pods of ``discovery.service`` as replicas named after their pods, in name order (the first
    is a wave's canary, so the order must not depend on the API's). A pod not ready (starting, failing its
    probe) or terminating is left out: it is not serving clients, and a pod that starts loads the
    repository's desired state."""
    where = f"service/{discovery.service} in {discovery.namespace}"
    found: dict[str, Replica] = {}
    ordered = sorted(slices, key=lambda s: (_FAMILY_ORDER.get(s.get("addressType"), 3), s["metadata"].get("name", "")))
    for endpoint_slice in ordered:
        if (endpoint_slice["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL) != discovery.service:
            continue
        ports = {p.get("name") or "": p["port"] for p in endpoint_slice.get("ports") or [] if p.get("port")}
        http = _port(discovery.http_port, ports, where, "http_port")
        metrics = _port(discovery.metrics_port, ports, where, "metrics_port")
        grpc = _port(discovery.grpc_port, ports, where, "grpc_port")
        for endpoint in endpoint_slice.get("endpoints") or []:
            conditions = endpoint.get("conditions") or {}
            addresses = endpoint.get("addresses") or []
            # ready unset means ready (the API's own reading); terminating pods are on their way out
            if conditions.get("ready") is False or conditions.get("terminating") or not addresses:
                continue
            host = addresses[0]
            name = (endpoint.get("targetRef") or {}).get("name") or host
            if name in found:
                continue
            found[name] = Replica(
                name=name,
                http_url=_url(discovery.scheme, host, http),
                metrics_url=None if metrics is None else f"{_url(discovery.scheme, host, metrics)}/metrics",
                grpc_url=None if grpc is None else _url("grpc", host, grpc).removeprefix("grpc://"),
            )
    return [found[name] for name in sorted(found)]


class EndpointSliceRoster:
    """Called for the fleet's current replicas, as model servers built by ``build``."""

    def __init__(
        self,
        read_slices: Callable[[], list[dict]],
        discovery: ReplicaDiscovery,
        build: Callable[[Replica], ModelServer],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read, self.discovery, self._build, self._clock = read_slices, discovery, build, clock
        self._servers: dict[tuple[str, str], ModelServer] = {}
        self._listed: list[ModelServer] | None = None
        self._listed_at = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> list[ModelServer]:
        with self._lock:
            now = self._clock()
            if self._listed is not None and now - self._listed_at < self.discovery.refresh_s:
                return self._listed
            try:
                replicas = replicas_from_slices(self._read(), self.discovery)
            except ClusterError as exc:
                if self._listed is not None and now - self._listed_at <= self.discovery.stale_s:
                    log.warning("%s; the replicas listed %.0f s ago are asked", exc, now - self._listed_at)
                    return self._listed
                raise
            if not replicas:
                raise ServerUnavailable(
                    f"service/{self.discovery.service} in {self.discovery.namespace}: no ready pod in its "
                    "EndpointSlices; fix: check the pods (kubectl get endpointslices -l "
                    f"{SERVICE_NAME_LABEL}={self.discovery.service}) and discover.service"
                )
            self._servers = {
                (r.name, r.http_url): self._servers.get((r.name, r.http_url)) or self._build(r) for r in replicas
            }
            self._listed, self._listed_at = list(self._servers.values()), now
            return self._listed

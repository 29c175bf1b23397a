"""A local production fleet: N Tritons over one repository folder (as replicas share a volume) and a load
balancer in front of them, the address clients use. Used by ``changeflow triton up --replicas``, the demo and
the fleet benchmark; production fleets are run by whoever runs them."""

from __future__ import annotations

import shutil
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from changeflow.local import load_balancer
from changeflow.local.triton_server import TritonServer, serve_versions
from changeflow.settings.environment import Replica, ServerEndpoint


@dataclass
class LocalFleet:
    folder: Path  # the repository every replica loads from
    servers: list[TritonServer]
    balancer: load_balancer.LoadBalancer | None  # None: no load balancer here, clients use the first replica
    serving: list[str]  # what the pinned models serve, for the user

    @property
    def http_url(self) -> str:
        return self.balancer.http_url if self.balancer is not None else self.servers[0].http_url

    def endpoint(self, name: str = "production") -> ServerEndpoint:
        """The fleet as an environment file names it: clients' address, the shared repository, each replica."""
        return ServerEndpoint(
            name=name,
            http_url=self.http_url,
            grpc_url=self.balancer.grpc_url if self.balancer is not None else self.servers[0].grpc_url,
            repository=self.folder,
            replicas=[
                Replica(name=s.name, http_url=s.http_url, metrics_url=s.metrics_url, grpc_url=s.grpc_url)
                for s in self.servers
            ],
        )


def start_fleet(
    stack: ExitStack,
    repository: Path,
    models: list[tuple[str, int | None]],
    replicas: int,
    *,
    prefix: str = "production",
    in_place: bool = False,
    http_port: int = 0,
    balanced: bool = True,
) -> LocalFleet:
    """Start the fleet on ``stack`` (stopped when it closes). The first replica writes the pinned versions into
    the shared repository (``serve_versions``); the others start after it and load what it says. Without
    ``balanced`` (or without haproxy: ``load_balancer.missing_reason()``), no load balancer is started."""
    folder = repository.resolve()
    if not in_place:  # one private copy, shared by every replica
        copy = Path(tempfile.mkdtemp(prefix=f"changeflow-{prefix}-"))
        stack.callback(shutil.rmtree, copy, True)
        folder = copy / "model_repository"
        shutil.copytree(repository, folder, ignore=shutil.ignore_patterns("__pycache__"))
    unpinned = [name for name, version in models if version is None]
    servers = [stack.enter_context(TritonServer(folder, name=f"{prefix}-1", load_models=unpinned))]
    serving = serve_versions(servers[0], models)
    servers += [
        stack.enter_context(TritonServer(folder, name=f"{prefix}-{i}", load_models=[n for n, _ in models]))
        for i in range(2, replicas + 1)
    ]
    balancer = None
    if balanced and load_balancer.missing_reason() is None:
        balancer = stack.enter_context(
            load_balancer.LoadBalancer(
                [s.http_url for s in servers],
                name=f"{prefix}-lb",
                port=http_port,
                grpc_backends=[s.grpc_url for s in servers],
            )
        )
    return LocalFleet(folder=folder, servers=servers, balancer=balancer, serving=serving)

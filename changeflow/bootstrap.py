"""The composition root: the adapters for an ``Environment``, built once per process and handed to the
flows and tasks as one typed ``Services`` (cosmicpython's bootstrap). Nothing else constructs adapters:
the factory functions below are the one place that maps a configured kind to its adapter class, and an
unknown kind raises (no silent fallback).

Each flow calls ``bootstrap(environment)`` where it starts (the governed entrypoints, each kind's flow,
the rollback subflow and its hooks: Prefect runs each as a flow of its own) and passes the result down;
plain code below a flow never builds or looks up a service, and the same environment gives the same
``Services`` within a process. Tests build ``Services`` from the fakes in ``tests/fakes.py``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from changeflow.exceptions import InvalidSettings
from changeflow.ports import (
    ApproverNotices,
    ChangeEvents,
    Cluster,
    Credentials,
    DecisionSource,
    DesiredState,
    MetricProvider,
    MetricSource,
    ModelLocks,
    ModelServer,
    RecordStore,
)
from changeflow.settings.environment import (
    ClusterSettings,
    Environment,
    RecordStoreSettings,
    Replica,
    ServerEndpoint,
    server_address,
)

if TYPE_CHECKING:  # the judge's models (numpy) load with the flows that judge, not with every reader
    from changeflow.domain.verdicts import MetricCheck


def _unknown(what: str, kind: str, known) -> InvalidSettings:
    return InvalidSettings("environment", f"{what}.kind", f"unknown kind {kind!r}", f"use one of: {', '.join(known)}")


def _server(kind: str, where: str, replica: Replica, headers) -> ModelServer:
    from changeflow.adapters.triton import TritonModelServer

    servers = {"triton": TritonModelServer}
    if kind not in servers:
        raise _unknown(where, kind, servers)
    return servers[kind](
        replica.http_url,
        replica.metrics_url,
        name=replica.name,
        repository_headers=headers,
        grpc_url=replica.grpc_url,
    )


def model_server(
    endpoint: ServerEndpoint, desired: DesiredState | None = None, cluster_settings: ClusterSettings | None = None
) -> ModelServer:
    """The servers an endpoint names, as one fleet (one server: a fleet of one); ``desired``: the repository
    its loads write first (production's), else loads change the servers' memory only (staging's). Replicas
    the endpoint ``discover``s are read from Kubernetes (``cluster_settings``) while a change runs. When the
    replicas sit behind a load balancer (``http_url`` reaches none of them), the fleet's probes pass it too."""
    from changeflow.adapters.fleet import Fleet

    def build(replica: Replica) -> ModelServer:
        return _server(endpoint.kind, endpoint.name, replica, endpoint.repository_headers)

    if endpoint.discover is not None:
        from changeflow.adapters.endpoint_slices import EndpointSliceRoster

        kube = cluster(cluster_settings)
        service = endpoint.discover
        replicas = EndpointSliceRoster(
            lambda: kube.list_endpoint_slices(service.namespace, service.service), service, build
        )
    else:
        replicas = [build(r) for r in endpoint.servers()]
    balanced = endpoint.discover is not None or (
        endpoint.replicas
        and server_address(endpoint.http_url) not in {server_address(r.http_url) for r in endpoint.replicas}
    )
    streams = (endpoint.discover is not None and endpoint.discover.grpc_port is not None) or any(
        r.grpc_url for r in endpoint.replicas
    )
    if endpoint.grpc_url is None and streams:
        balanced = False  # the replicas stream over gRPC and the balancer's gRPC address is not given: probes
        # that must stream could not pass it, so none does (set grpc_url to the balancer's to have them pass)
    balancer = Replica(name=f"{endpoint.name} load balancer", http_url=endpoint.http_url, grpc_url=endpoint.grpc_url)
    through = build(balancer) if balanced else None
    return Fleet(endpoint.name, replicas, desired, endpoint.http_url, through)


def config_store(endpoint: ServerEndpoint) -> DesiredState | None:
    """Every folder the endpoint's servers load from, written together; None when one is not set."""
    from changeflow.adapters.config_store import LocalConfigStore, Repositories

    folders = endpoint.repository_folders()
    return Repositories([LocalConfigStore(f) for f in folders]) if folders else None


def _no_repository(endpoint: ServerEndpoint) -> InvalidSettings:
    return InvalidSettings(
        "environment",
        f"{endpoint.name}.repository",
        "is not set; model and config changes write the model repository the servers load from",
        "set it to that folder (or each replica's own repository)",
    )


def _writer() -> str:
    from changeflow.adapters.prefect import writer_identity

    return writer_identity()


def _calendar_zone():
    """The executor's own verified governance calendar's zone, in which its record pages show times; UTC
    when its governance cannot be read here (the page is the face, the database the record)."""
    from datetime import timezone

    from changeflow.settings.defaults import governance_or_default

    try:
        return governance_or_default().calendar.zone
    except Exception:
        return timezone.utc


class _PrefectPublisher:
    """Prefect's artifact and events, imported on the first save: a reader (``changeflow list``) never pays for it."""

    def __init__(self) -> None:
        self._publisher = None

    def publish(self, record, version) -> None:
        if self._publisher is None:
            from changeflow.adapters.prefect_records import PrefectRecordPublisher
            from changeflow.render.record_markdown import record_markdown

            zone = _calendar_zone()
            self._publisher = PrefectRecordPublisher(lambda record, as_json: record_markdown(record, as_json, zone))
        self._publisher.publish(record, version)


@functools.lru_cache(maxsize=16)
def record_store(settings: RecordStoreSettings) -> RecordStore:
    """The record database (one engine per URL and process), published to Prefect when ``publish``."""
    from changeflow.adapters.published_records import PublishedRecords
    from changeflow.adapters.sql_records import SqlRecordStore
    from changeflow.settings.defaults import executor_key

    store = SqlRecordStore(settings.url, writer=_writer, signer=executor_key())
    return PublishedRecords(store, _PrefectPublisher()) if settings.publish else store


def record_lines(settings: RecordStoreSettings):
    """``changeflow list``'s reader of the same database, over its own driver (no SQLAlchemy to import)."""
    from changeflow.adapters.sql_lines import RecordLines

    return RecordLines(settings.url)


def cluster(settings: ClusterSettings | None) -> Cluster:
    if settings is None:
        raise InvalidSettings(
            "environment",
            "cluster",
            "is not set; Kubernetes changes need a cluster",
            "set cluster: kubeconfig / context, in_cluster: true, or host",
        )
    from changeflow.adapters.kubernetes import KubernetesCluster

    return KubernetesCluster(settings)


def approver_credentials(public_keys: dict[str, str], authenticators: dict[str, str] | None = None) -> Credentials:
    """The approvers' enrolled credentials: public keys and commitments to their one-time-code secrets from
    governance, the secrets from the executors' secrets file. An executor pinning governance keys counts a
    code only from a secret its bundle names."""
    from changeflow.adapters.credentials import ApproverCredentials
    from changeflow.settings.defaults import approver_secrets, governance_pins

    return ApproverCredentials(
        public_keys, approver_secrets(), authenticators, require_authenticator=bool(governance_pins())
    )


@dataclass
class Services:
    """What a change step may use. ``cluster`` is built on first use, since only
    some kinds need them and an environment without them is valid for the others."""

    environment: Environment
    production: ModelServer
    metrics: MetricSource
    staging: ModelServer
    records: RecordStore
    locks: ModelLocks
    decisions: DecisionSource | None = None  # where a waiting change asks a person (the Prefect pause)
    notices: ApproverNotices | None = None  # how approvers are told a change waits
    events: ChangeEvents | None = None  # events about a change: the event feed, incident management
    repository: DesiredState | None = None  # what production's servers load from: every load of a model writes it
    _cluster: Cluster | None = field(default=None, repr=False)

    def server(self, target: str) -> ModelServer:
        """``production`` or ``staging`` (a candidate's own endpoint, e.g. blue-green's green)."""
        return {"production": self.production, "staging": self.staging}[target]

    def replica_count(self) -> int:
        return len(getattr(self.production, "replicas", None) or [self.production])

    def wave(self, size: int) -> Services:
        """These services with production narrowed to the first ``size`` replicas (the wave a promotion has
        reached); the metrics stay the whole fleet's, so clients' traffic to every version is counted."""
        if size >= self.replica_count():
            return self
        return dataclasses.replace(self, production=self.production.first(size))

    def metric_checks(self, checks: Sequence[MetricCheck]) -> list[tuple[MetricCheck, MetricProvider]]:
        """Governance's metric checks, each with the environment's provider it names (built by the one
        factory); a check naming a provider the environment lacks is refused, naming the fix."""
        from changeflow.adapters.metric_providers import provider_for

        providers = self.environment.bake.providers
        for check in checks:
            if check.provider not in providers:
                raise InvalidSettings(
                    "environment",
                    f"bake.providers.{check.provider}",
                    f"is missing: governance's metric check {check.name!r} asks it",
                    f"add bake.providers.{check.provider}: {{kind: prometheus, url: ...}} (or kind: triton) to the environment file",
                )
        return [(check, provider_for(providers[check.provider])) for check in checks]

    def config_store(self) -> DesiredState:
        """Production's model repository (every folder its replicas load from); refused when not set."""
        if self.repository is None:
            raise _no_repository(self.environment.production)
        return self.repository

    def desired_state(self, model: str) -> tuple[bool, str]:
        """The checklist's question: can this change keep what it does in the repository, so that a
        restarted or added replica serves it?"""
        if self.repository is None:
            return False, str(_no_repository(self.environment.production))
        return self.repository.writable(model)

    def cluster(self) -> Cluster:
        if self._cluster is None:
            self._cluster = cluster(self.environment.cluster)
        return self._cluster


@functools.lru_cache(maxsize=64)
def _build(environment_json: str) -> Services:
    from changeflow.adapters.incidents import OutgoingChangeEvents
    from changeflow.adapters.notifications import PrefectApproverNotices
    from changeflow.adapters.prefect import PrefectModelLocks
    from changeflow.adapters.prefect_approvals import PrefectPause

    environment = Environment.model_validate_json(environment_json)
    repository = config_store(environment.production)
    production = model_server(environment.production, repository, environment.cluster)
    return Services(
        environment=environment,
        production=production,
        metrics=production,  # Triton serves its own counters; governance's metric checks ask bake.providers
        staging=model_server(environment.staging, cluster_settings=environment.cluster),
        records=record_store(environment.records),
        locks=PrefectModelLocks(),
        decisions=PrefectPause(),
        notices=PrefectApproverNotices(),
        events=OutgoingChangeEvents(),
        repository=repository,
    )


def bootstrap(environment: Environment) -> Services:
    """The services for ``environment``; the same object for the same settings within a process."""
    return _build(environment.model_dump_json())

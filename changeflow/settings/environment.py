"""Where a change runs: the servers and the record store, as serializable settings.

Flows take an ``Environment`` as a parameter (so a Prefect deployment can carry it); the composition
root (``changeflow.bootstrap``) builds the adapters for it once. Nothing here opens a connection.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from changeflow.domain.checks import Refusal
from changeflow.settings.discovery import ReplicaDiscovery

log = logging.getLogger("changeflow.settings")


class Replica(BaseModel):
    """One server of a fleet: its APIs and, when the replicas do not share one, its own model repository."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    http_url: str
    metrics_url: str | None = None
    grpc_url: str | None = Field(None, description="host:port of its gRPC API: streaming (decoupled) models need it")
    repository: Path | None = Field(None, description="this replica's own model repository folder")


class ServerEndpoint(BaseModel):
    """A model server, or a fleet of them: its API (the address clients use), its metrics and (when on this
    machine) its model repository, the desired state a model deployment writes and a restarted server loads."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["triton"] = "triton"
    name: str
    http_url: str
    metrics_url: str | None = None
    grpc_url: str | None = Field(
        None, description="host:port of the server's gRPC API: streaming (decoupled) models are called over it"
    )
    repository: Path | None = Field(
        None,
        description="the model repository the servers load from (a shared volume); model and config changes write it",
    )
    repository_headers: dict[str, str] = Field(
        default_factory=dict, description="headers for a restricted repository API"
    )
    replicas: list[Replica] = Field(
        default_factory=list,
        description="the servers behind http_url (a load balancer), each loaded and checked directly; empty: http_url is the one server",
    )
    discover: ReplicaDiscovery | None = Field(
        None,
        description="the replicas are the pods of this Kubernetes Service (its EndpointSlices), read while a change runs",
    )

    @model_validator(mode="after")
    def _replicas_named_once(self) -> ServerEndpoint:
        names = [r.name for r in self.replicas]
        if len(set(names)) != len(names):
            raise ValueError(f"replicas: names repeat ({', '.join(names)}); give each replica its own name")
        if self.replicas and self.discover is not None:
            raise ValueError("replicas and discover: give one; discover reads the replicas from Kubernetes")
        return self

    def servers(self) -> list[Replica]:
        """The listed replicas, or this one server as a fleet of one (discovered replicas are read by the
        adapter while a change runs, so they are not here)."""
        if self.replicas:
            return list(self.replicas)
        return [Replica(name=self.name, http_url=self.http_url, metrics_url=self.metrics_url, grpc_url=self.grpc_url)]

    def repository_folders(self) -> list[Path] | None:
        """Every folder the servers load from (each written by a change), or None when one is not known."""
        if self.discover is not None:  # pods share one volume: the only folder a worker can write for them all
            return [self.repository] if self.repository is not None else None
        folders = [r.repository or self.repository for r in self.servers()]
        if any(f is None for f in folders):
            return None
        return list(dict.fromkeys(folders))


RECORDS_URL = "CHANGEFLOW_RECORDS_URL"


def default_records_url() -> str:
    """``CHANGEFLOW_RECORDS_URL``, else an SQLite file ``.changeflow/records.db`` under the working directory
    (made absolute here, so a flow run elsewhere finds the same file)."""
    return os.environ.get(RECORDS_URL) or f"sqlite:///{(Path('.changeflow') / 'records.db').resolve()}"


class RecordStoreSettings(BaseModel):
    """The system of record: a SQL database (SQLite file or PostgreSQL), and whether each saved version is
    also published to Prefect (the markdown artifact the UI shows, and the ``changeflow.change.*`` events)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str = Field(
        default_factory=default_records_url,
        description="SQLAlchemy URL: sqlite:///ABS/PATH.db or postgresql+psycopg://USER@HOST:PORT/DB",
    )
    publish: bool = Field(True, description="publish each version to Prefect as an artifact and events")

    @field_validator("url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql+psycopg://", "postgresql://")):
            raise ValueError("use sqlite:///ABSOLUTE/PATH.db or postgresql+psycopg://USER@HOST:PORT/DATABASE")
        return (
            value.replace("postgresql://", "postgresql+psycopg://", 1) if value.startswith("postgresql://") else value
        )


class MetricProviderSettings(BaseModel):
    """Where a metric check asks: ``prometheus`` (its base URL, PromQL queries) or ``triton`` (a /metrics URL,
    ``name{label="value"}`` queries)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["prometheus", "triton"]
    url: str = Field(min_length=1, max_length=2048)
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = Field(5.0, gt=0, le=60)


class BakeSettings(BaseModel):
    """How a bake gathers its evidence: the mechanics, the operator's to fit their servers and load.

    What the evidence must show is a judgement and lives in governance (``verification.yaml``, signed with
    the bundle the approvers' plan digest names; ``domain.comparison.Verification``): the thresholds,
    whether the candidate is judged against the old version (``paired``), the metric checks and their
    limits. What stays here decides how much evidence is gathered and how fast, never the bar it must
    clear: fewer probes or a longer interval make a verdict slower or INCONCLUSIVE (governance's
    ``min_requests`` per sample, ``min_samples`` per version), not a pass. ``providers`` are where
    governance's metric checks ask (URLs and credentials), by the name a check gives."""

    model_config = ConfigDict(extra="forbid")
    interval_s: float = Field(
        0.5,
        gt=0,
        le=300,
        description="a sample every this many seconds: 20 paired probes at 0.5 s catch 10 % errors in ~1.5 s",
    )
    probes_per_sample: int = Field(20, ge=1, le=1_000)
    smoke_requests: int = Field(10, ge=1, le=1_000)
    replica_return_s: float = Field(
        20.0, ge=0, le=600, description="a rollback's verification waits this long for a replica that does not answer"
    )
    providers: dict[str, MetricProviderSettings] = Field(
        default_factory=dict, max_length=20, description="metric providers by name"
    )


class ClusterSettings(BaseModel):
    """How to reach Kubernetes: an explicit host (tests, proxies), in-cluster, or a kubeconfig + context."""

    model_config = ConfigDict(extra="forbid")
    host: str | None = None
    token: str | None = None
    verify_ssl: bool = True
    in_cluster: bool = False
    kubeconfig: str | None = None
    context: str | None = None
    timeout_s: float = Field(10.0, gt=0)
    poll_s: float = Field(1.0, gt=0, description="how often a rollout is checked")
    settle_s: float = Field(
        5.0, ge=0, description="after a Service switch, time for endpoints to follow before verifying"
    )


# What the environment held before governance did (#25), where it went, and the value changeflow itself wrote
# into every environment file it generated: that value (nobody's choice) is ignored with a warning so those
# files keep working; any other is refused, since dropping it would silently change how a bake is judged.
_UNSET = object()
MOVED_TO_GOVERNANCE = {
    "paired": ("move bake.paired to verification.yaml paired: in the governance bundle", True),
    "checks": (
        "move bake.checks to verification.yaml checks: in the governance bundle (a check names its provider; "
        "the provider's kind and url stay here under bake.providers)",
        [],
    ),
    "thresholds": ("move bake.thresholds to verification.yaml thresholds: in the governance bundle", _UNSET),
}


def _judgements_moved(data: Any) -> Any:
    bake = data.get("bake") if isinstance(data, dict) else None
    if not isinstance(bake, dict) or not MOVED_TO_GOVERNANCE.keys() & bake.keys():
        return data
    kept = dict(bake)
    for field, (fix, written) in MOVED_TO_GOVERNANCE.items():
        if field not in kept:
            continue
        if type(kept[field]) is type(written) and kept[field] == written:
            log.warning(
                "environment: bake.%s: %s is ignored, governance decides it now (verification.yaml %s:); remove it from the environment file",
                field,
                json.dumps(written),
                field,
            )
            del kept[field]
            continue
        problem = "decides the bake's verdict, so governance holds it now, not the environment"
        error = PydanticCustomError("moved_to_governance", "{error}", {"error": Refusal(problem, fix)})
        raise ValidationError.from_exception_data(
            "Environment", [InitErrorDetails(type=error, loc=("bake", field), input=kept[field])]
        )
    return {**data, "bake": kept}


class Environment(BaseModel):
    """``production`` is the serving endpoint; ``staging`` the candidate's (for blue-green: green's own).

    They must be two servers: a candidate loaded on a staging that is production changes production while
    the record believes it untouched. A second name for the same server is refused here when its spelling
    gives it away (``localhost`` and ``127.0.0.1``, a default port, a trailing slash, the same repository
    folder); one it cannot see (a DNS alias, a proxy) is caught at run time: the stage step observes
    production before and after (``changeflow.services.production_watch``)."""

    model_config = ConfigDict(extra="forbid")
    production: ServerEndpoint
    staging: ServerEndpoint
    cluster: ClusterSettings | None = None
    records: RecordStoreSettings = Field(default_factory=RecordStoreSettings)
    bake: BakeSettings = Field(default_factory=BakeSettings)

    @model_validator(mode="before")
    @classmethod
    def _judgements_are_governance(cls, data: Any) -> Any:
        return _judgements_moved(data)

    @model_validator(mode="after")
    def _discovery_has_a_cluster(self) -> Environment:
        for where, endpoint in (("production", self.production), ("staging", self.staging)):
            if endpoint.discover is not None and self.cluster is None:
                raise ValueError(
                    f"{where}.discover: needs the Kubernetes API to read service/{endpoint.discover.service}'s "
                    "EndpointSlices; fix: add cluster: (kubeconfig and context, in_cluster: true, or host)"
                )
        return self

    @model_validator(mode="after")
    def _staging_is_another_server(self) -> Environment:
        production, staging = self.production, self.staging
        theirs_all = [
            (f"production.{field}", getattr(production, field)) for field in ("http_url", "metrics_url", "grpc_url")
        ] + [
            (f"production.replicas.{r.name}.{field}", getattr(r, field))
            for r in production.replicas
            for field in ("http_url", "metrics_url", "grpc_url")
        ]
        mine_all = [(field, getattr(staging, field)) for field in ("http_url", "metrics_url", "grpc_url")] + [
            (f"replicas.{r.name}.{field}", getattr(r, field))
            for r in staging.replicas
            for field in ("http_url", "metrics_url", "grpc_url")
        ]
        for field, mine in mine_all:
            for where, theirs in theirs_all:
                if (
                    mine
                    and theirs
                    and server_address(mine) is not None
                    and server_address(mine) == server_address(theirs)
                ):
                    host, port = server_address(mine)
                    raise _refused(
                        field,
                        mine,
                        f"reaches production's server ({host}:{port}, as {where} {theirs} does): a candidate "
                        "staged there would load on production",
                        f"point staging.{field} at a Triton of its own (another host or port)",
                    )
        theirs_folders = {_folder(f) for f in production.repository_folders() or [] if f is not None}
        if production.repository is not None:
            theirs_folders.add(_folder(production.repository))
        for folder in [staging.repository, *(r.repository for r in staging.replicas)]:
            if folder is not None and _folder(folder) in theirs_folders:
                raise _refused(
                    "repository",
                    str(folder),
                    f"is production's model repository ({_folder(folder)})",
                    "give staging its own copy of the repository",
                )
        return self


DEFAULT_PORTS = {"http": 80, "https": 443}
_THIS_MACHINE = {ipaddress.ip_address(a) for a in ("127.0.0.1", "::1", "0.0.0.0", "::")}


def server_address(url: str) -> tuple[str, int] | None:
    """The (host, port) a URL reaches, spelled one way: scheme, path and case do not matter, a missing port
    is the scheme's, and ``localhost`` / ``127.0.0.1`` / ``[::1]`` / ``0.0.0.0`` are this machine. None when
    the URL names no host (the adapter will say so)."""
    parts = urlsplit(url if "//" in url else f"//{url}")
    try:
        host, port = (
            (parts.hostname or "").rstrip(".").lower(),
            parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 80),
        )
    except ValueError:  # a port that is not a number
        return None
    if not host:
        return None
    if host == "localhost" or host.endswith(".localhost"):
        return "localhost", port
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host, port
    ip = getattr(ip, "ipv4_mapped", None) or ip
    return ("localhost" if ip in _THIS_MACHINE else ip.compressed), port


def _folder(path: Path) -> Path:
    return Path(path).expanduser().resolve()


class StagingIsProduction(ValueError):
    """Why staging was refused (``str()``) and ``fix``: carried as the error's ``ctx['error']``, as pydantic
    carries a validator's ValueError, so the settings loader can print both."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.fix = fix


def _refused(field: str, value: str, problem: str, fix: str) -> ValidationError:
    """One error located at ``staging.<field>`` (a model validator's own errors have no field)."""
    error = PydanticCustomError("staging_is_production", "{error}", {"error": StagingIsProduction(problem, fix)})
    return ValidationError.from_exception_data(
        "Environment", [InitErrorDetails(type=error, loc=("staging", field), input=value)]
    )

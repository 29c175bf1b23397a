"""Where a change runs: the servers and the record store, as serializable settings.

Flows take an ``Environment`` as a parameter (so a Prefect deployment can carry it); the composition
root (``changeflow.bootstrap``) builds the adapters for it once. Nothing here opens a connection.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ServerEndpoint(BaseModel):
    """One model server: its API, its metrics and (when on this machine) its model repository."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["triton"] = "triton"
    name: str
    http_url: str
    metrics_url: str | None = None
    repository: Path | None = Field(None, description="local model repository, needed for config changes")
    repository_headers: dict[str, str] = Field(default_factory=dict, description="headers for a restricted repository API")


class RecordStoreSettings(BaseModel):
    """``prefect``: artifacts and events on the Prefect server (the system of record); ``file``: JSON files."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["prefect", "file"] = "prefect"
    path: Path = Path(".changeflow/records")


class BakeSettings(BaseModel):
    """How production is watched after a promotion."""

    model_config = ConfigDict(extra="forbid")
    interval_s: float = Field(1.0, gt=0, le=300)
    probes_per_sample: int = Field(20, ge=1, le=1_000)
    smoke_requests: int = Field(10, ge=1, le=1_000)


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
    settle_s: float = Field(5.0, ge=0, description="after a Service switch, time for endpoints to follow before verifying")


class Environment(BaseModel):
    """``production`` is the serving endpoint; ``staging`` the candidate's (for blue-green: green's own)."""

    model_config = ConfigDict(extra="forbid")
    production: ServerEndpoint
    staging: ServerEndpoint
    cluster: ClusterSettings | None = None
    records: RecordStoreSettings = Field(default_factory=RecordStoreSettings)
    bake: BakeSettings = Field(default_factory=BakeSettings)

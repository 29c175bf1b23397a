"""Where a change runs: the servers and the record store, as serializable settings.

Flows take an ``Environment`` as a parameter (so a Prefect deployment can carry it) and build their
adapters from it through ``adapters.factory``; nothing here opens a connection.
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
    probes_per_sample: int = Field(20, ge=0, le=1_000)
    smoke_requests: int = Field(10, ge=1, le=1_000)


class Environment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    production: ServerEndpoint
    staging: ServerEndpoint
    records: RecordStoreSettings = Field(default_factory=RecordStoreSettings)
    bake: BakeSettings = Field(default_factory=BakeSettings)

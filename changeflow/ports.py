"""The small interfaces changeflow's tasks talk to; adapters implement them, tests may pass fakes.

Kept tiny on purpose (Flagger's router/provider style): each names only what a change step needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from changeflow.domain.serving import MetricsSnapshot, VersionState

if TYPE_CHECKING:
    import numpy as np
    from tritonclient.grpc.model_config_pb2 import ModelConfig


@dataclass(frozen=True)
class InferenceResult:
    """Outputs of one inference, the version that answered it, and the client-side latency."""

    model: str
    model_version: int
    outputs: Mapping[str, "np.ndarray"] = field(repr=False)
    latency_ms: float


@runtime_checkable
class ModelServer(Protocol):
    """An inference server with an explicit-control model repository (Triton's API)."""

    def ready(self) -> bool: ...

    def repository_index(self) -> list[VersionState]: ...

    def ready_versions(self, model: str) -> list[int]: ...

    def load(self, model: str, config: "ModelConfig | None" = None) -> None: ...

    def load_versions(self, model: str, versions: Sequence[int], base_config: "ModelConfig | None" = None) -> None: ...

    def unload(self, model: str) -> None: ...

    def model_config(self, model: str) -> "ModelConfig": ...

    def infer(self, model: str, inputs: Mapping[str, "np.ndarray"], version: int | None = None) -> InferenceResult: ...


@runtime_checkable
class MetricSource(Protocol):
    """Where per-version request counters come from (Triton's Prometheus endpoint)."""

    def scrape(self) -> MetricsSnapshot: ...


@runtime_checkable
class ConfigStore(Protocol):
    """The model repository's config files, for config changes and their exact revert."""

    def read_config_text(self, model: str) -> str: ...

    def write_config_text(self, model: str, text: str) -> None: ...

"""What a model server reports, as plain typed values the domain can reason about."""

from __future__ import annotations

from pydantic import BaseModel, Field


class VersionState(BaseModel, frozen=True):
    """One row of a model repository index: a model (and version, once loaded) and its state."""

    model: str
    version: int | None = None
    state: str = "UNAVAILABLE"  # READY, UNAVAILABLE, LOADING, UNLOADING
    reason: str = ""


class VersionCounters(BaseModel, frozen=True):
    """Triton's cumulative per-version counters at one scrape."""

    model: str
    version: int
    success: float = 0.0
    failure: float = 0.0
    failure_by_reason: dict[str, float] = Field(default_factory=dict)
    inference_count: float = 0.0
    request_duration_us: float = 0.0
    queue_duration_us: float = 0.0
    compute_infer_duration_us: float = 0.0

    @property
    def requests(self) -> float:
        return self.success + self.failure


class MetricsSnapshot(BaseModel, frozen=True):
    """All per-version counters of one scrape; ``taken_at`` is seconds on the caller's clock."""

    taken_at: float
    counters: tuple[VersionCounters, ...] = ()

    def for_version(self, model: str, version: int) -> VersionCounters:
        """The counters of one version; zeros when Triton has not reported it (yet)."""
        for counters in self.counters:
            if counters.model == model and counters.version == version:
                return counters
        return VersionCounters(model=model, version=version)

"""The small interfaces the change steps talk to; adapters implement them, tests pass fakes.

Kept tiny on purpose (Flagger's router/provider style): each names only what a change step calls.
``changeflow.bootstrap`` builds the real ones for an environment; ``tests/fakes.py`` has in-memory ones.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from changeflow.domain.serving import MetricsSnapshot, VersionState

if TYPE_CHECKING:
    import numpy as np

    from changeflow.domain.decisions import Answer
    from changeflow.domain.history import ChainHead, FactsPage, NewestPage, RecordPage, RecordQuery, RecordVersion
    from changeflow.domain.identity import Proof
    from changeflow.domain.model_config import ModelConfig
    from changeflow.domain.record import ChangeRecord
    from changeflow.domain.streams import StreamResult


@dataclass(frozen=True)
class InferenceResult:
    """Outputs of one inference, the version that answered it, and the client-side latency.

    A streaming (decoupled) model's answer is its whole stream: each output's responses stacked along a
    leading axis (``[responses, *shape]``), ``latency_ms`` the time to the first response (what a user of
    a generative model waits for), and ``stream`` the stream as its client saw it (arrivals, total)."""

    model: str
    model_version: int
    outputs: Mapping[str, np.ndarray] = field(repr=False)
    latency_ms: float
    server: str = ""  # which server answered (a replica of a fleet): a check names it
    stream: StreamResult | None = field(default=None, repr=False)


@runtime_checkable
class ModelServer(Protocol):
    """An inference server with an explicit-control model repository (Triton's API)."""

    name: str

    def ready(self) -> bool: ...

    def server_version(self) -> str: ...

    def repository_index(self) -> list[VersionState]: ...

    def explicit_model_control(self) -> tuple[bool, str]: ...

    def ready_versions(self, model: str) -> list[int]: ...

    def load(self, model: str, config: ModelConfig | None = None) -> None: ...

    def load_versions(self, model: str, versions: Sequence[int], base_config: ModelConfig | None = None) -> None: ...

    def unload(self, model: str) -> None: ...

    def model_config(self, model: str) -> ModelConfig: ...

    def infer(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        version: int | None = None,
        datatypes: Mapping[str, str] | None = None,
    ) -> InferenceResult: ...


@runtime_checkable
class Convergent(Protocol):
    """A fleet of servers that load from a repository: each replica asked apart, and the ones behind the
    repository brought back to it."""

    def replica_versions(self, model: str) -> dict[str, Any]: ...

    def converge(self, model: str, only_from: Collection[tuple[int, ...]] | None) -> list[str]: ...


@runtime_checkable
class MetricSource(Protocol):
    """Where per-version request counters come from (Triton's Prometheus endpoint)."""

    def scrape(self) -> MetricsSnapshot: ...


@runtime_checkable
class MetricProvider(Protocol):
    """Flagger's provider: run one query, return one value; ``NoMetricData`` when nothing matched,
    ``ServerError`` when the provider cannot be asked."""

    def query(self, query: str) -> float: ...


@runtime_checkable
class ConfigStore(Protocol):
    """The model repository's config files, for config changes and their exact revert."""

    def read_config_text(self, model: str) -> str: ...

    def read_config(self, model: str) -> ModelConfig: ...

    def write_config_text(self, model: str, text: str) -> None: ...


class DesiredState(ConfigStore, Protocol):
    """The model repository production's servers load from: a change writes what a model serves there first,
    so a restarted or added server loads it; ``writable`` is the checklist's question."""

    def writable(self, model: str) -> tuple[bool, str]: ...


@runtime_checkable
class RecordStore(Protocol):
    """The system of record: ``save`` appends a version of the record; readers ask for a page of what
    they need (``services.records.every`` pages through), never for everything at once."""

    def save(self, record: ChangeRecord) -> RecordVersion: ...

    def load(self, change_id: str) -> ChangeRecord: ...

    def page(self, query: RecordQuery) -> RecordPage: ...

    def facts_page(self, query: RecordQuery) -> FactsPage: ...

    def newest(self, query: RecordQuery, offset: int = 0) -> NewestPage:
        """``query.limit`` matching records, newest first, after skipping ``offset``; and the count of all
        that match (``changeflow list`` pages through a large database with it)."""

    def history(self, change_id: str) -> list[RecordVersion]: ...

    identity: str  # which database this is (its URL without user or password): checkpoints are kept per database

    def max_seq(self) -> int:
        """The highest sequence number of any version (0: none)."""

    def chain_heads(self, after: str | None = None, limit: int = 1000) -> list[ChainHead]:
        """Each record's last version, by change ID after ``after``, at most ``limit``: a checkpoint pages through."""


@runtime_checkable
class ProofLedger(Protocol):
    """Proofs of identity already accepted: ``claim`` is False for a replay."""

    def claim_proof(self, key: str, change_id: str) -> bool: ...


@runtime_checkable
class Credentials(Protocol):
    """Checks that a decision comes from the approver it names (a one-time code or a signature)."""

    def verify(
        self, change_id: str, approver: str, approve: bool, digest: str, code: str = "", signature: str = ""
    ) -> Proof: ...


@runtime_checkable
class RecordPublisher(Protocol):
    """Where a saved version is shown and announced (Prefect's artifacts and events)."""

    def publish(self, record: ChangeRecord, version: RecordVersion) -> None: ...


@runtime_checkable
class Cluster(Protocol):
    """The Kubernetes objects the Kubernetes kinds change, as the API's dicts."""

    def read_deployment(self, namespace: str, name: str) -> dict: ...

    def patch_deployment(self, namespace: str, name: str, patch: dict) -> dict: ...

    def create_deployment(self, namespace: str, body: dict) -> dict: ...

    def list_replica_sets(self, namespace: str, selector: dict[str, str]) -> list[dict]: ...

    def list_endpoint_slices(self, namespace: str, service: str) -> list[dict]: ...

    def read_service(self, namespace: str, name: str) -> dict: ...

    def patch_service(self, namespace: str, name: str, patch: dict) -> dict: ...


@runtime_checkable
class ModelLocks(Protocol):
    """One change at a time per model, across processes and hosts."""

    def hold(self, model: str, timeout_s: float) -> AbstractContextManager[str]:
        """Held for the block; yields the hold's ID for ``release``."""

    def hold_if_free(self, model: str) -> AbstractContextManager[str | None]:
        """Held for the block when free now, else None at once (the drift check: never waits, never queues)."""

    def take_over(self, model: str, lease: str | None, timeout_s: float) -> AbstractContextManager[str]:
        """Keep a dead holder's hold for the block (or hold anew when it ran out); freed at the end."""

    def release(self, lease: str) -> None:
        """Free a hold by its ID (the safety net, once production is settled)."""


class DecisionSource(Protocol):
    """Where a waiting change asks a person for one decision: the Prefect pause and its resume form in
    production, a scripted list in tests. ``purpose`` names the form (``approval``, ``bake``)."""

    def ask(self, purpose: str, description: str, digest: str, timeout_s: int, poll_s: float) -> Answer | None:
        """Wait up to ``timeout_s`` for one decision; None when none came in time."""
        ...


class ApproverNotices(Protocol):
    """Telling approvers a change waits for them, and reminding them (and automations) when overdue."""

    def link(self) -> str:
        """Where the waiting change is decided (the paused run in the Prefect UI)."""
        ...

    def tell(self, urls: Sequence[str], title: str, body: str) -> bool: ...

    def overdue(self, change_id: str, after_s: float, payload: dict, also) -> Cancellable: ...


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class ChangeEvents(Protocol):
    """Events about one change going out: to the orchestrator's event feed (automations, the UI) and to
    incident management (``settings``: governance's ``incident_events``; None sends nothing there)."""

    def announce(self, change_id: str, what: str, payload: dict) -> None: ...

    def report(self, settings, record: ChangeRecord, moment: str) -> bool: ...

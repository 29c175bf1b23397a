"""In-memory stand-ins for the ports (``changeflow.ports``), for unit tests of services and kinds.

They keep state the way the real systems do (a model repository index, cumulative counters, stored
records) so a test drives a scenario and reads the outcome; nothing here talks to a network.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone

import numpy as np

from changeflow.domain.dora import change_facts
from changeflow.domain.history import (
    GENESIS,
    ChainHead,
    FactsPage,
    NewestPage,
    RecordLine,
    RecordPage,
    RecordQuery,
    RecordVersion,
    link_digest,
    version_message,
)
from changeflow.domain.record import ChangeRecord
from changeflow.domain.serving import MetricsSnapshot, VersionCounters, VersionState
from changeflow.exceptions import ConfigError, InferenceError, ModelNotReady, RecordNotFound, ServerUnavailable
from changeflow.ports import InferenceResult


class FakeModelServer:
    """A model server whose models answer with ``answer(model, version, inputs) -> outputs``.

    ``answer`` may raise ``InferenceError`` (an error response) for a failing version; ``down`` makes
    every call raise ``ServerUnavailable``. Served requests feed per-version counters (``scrape``).
    ``latency(version) -> ms`` is the latency each answer reports (1 ms by default).
    """

    def __init__(
        self,
        answer: Callable[[str, int, Mapping[str, np.ndarray]], dict],
        ready: dict[str, list[int]] | None = None,
        name: str = "fake",
        latency: Callable[[int], float] = lambda version: 1.0,
    ) -> None:
        self.name = name
        self.answer, self.latency = answer, latency
        self.ready_map = {m: sorted(v) for m, v in (ready or {}).items()}
        self.down = False
        self.counters: dict[tuple[str, int], VersionCounters] = {}
        self.loads: list[tuple[str, list[int]]] = []
        self.clock = itertools.count()
        self.configs: dict = {}  # model -> ModelConfig, for tests that read served configs

    def _check(self) -> None:
        if self.down:
            raise ServerUnavailable(f"{self.name}: does not answer")

    def ready(self) -> bool:
        return not self.down

    def server_version(self) -> str:
        self._check()
        return "fake"

    def explicit_model_control(self) -> tuple[bool, str]:
        return (not self.down), f"{self.name} accepts explicit model loads"

    def repository_index(self) -> list[VersionState]:
        self._check()
        return [VersionState(model=m, version=v, state="READY") for m, vs in self.ready_map.items() for v in vs]

    def ready_versions(self, model: str) -> list[int]:
        self._check()
        return list(self.ready_map.get(model, []))

    def load(self, model, config=None) -> None:
        """With a config whose version policy names versions, serves exactly those (as Triton does)."""
        self._check()
        if config is not None and config.version_policy.WhichOneof("policy_choice") == "specific":
            self.load_versions(model, list(config.version_policy.specific.versions), config)

    def load_versions(self, model: str, versions: Sequence[int], base_config=None) -> None:
        self._check()
        self.ready_map[model] = sorted(versions)
        self.loads.append((model, sorted(versions)))

    def unload(self, model: str) -> None:
        self.ready_map.pop(model, None)

    def model_config(self, model: str):
        if model in self.configs:
            copy = type(self.configs[model])()
            copy.CopyFrom(self.configs[model])
            return copy
        raise ModelNotReady("the fake server has no configs")

    def infer(
        self, model: str, inputs: Mapping[str, np.ndarray], version: int | None = None, datatypes=None
    ) -> InferenceResult:
        self._check()
        versions = self.ready_map.get(model, [])
        if not versions or (version is not None and version not in versions):
            raise InferenceError(f"{model} v{version} is not ready")
        served = version if version is not None else max(versions)
        row = self.counters.get((model, served), VersionCounters(model=model, version=served))
        try:
            outputs = self.answer(model, served, inputs)
        except InferenceError:
            self.counters[(model, served)] = row.model_copy(update={"success": row.success + 1})  # Triton's blind spot
            raise
        self.counters[(model, served)] = row.model_copy(
            update={"success": row.success + 1, "request_duration_us": row.request_duration_us + 1000}
        )
        return InferenceResult(
            model=model, model_version=served, outputs=outputs, latency_ms=self.latency(served), server=self.name
        )

    def scrape(self) -> MetricsSnapshot:
        self._check()
        return MetricsSnapshot(taken_at=float(next(self.clock)), counters=tuple(self.counters.values()))


class FakeRepository:
    """A model repository's config texts (``DesiredState``); ``read_only`` makes writes fail as a read-only
    volume does. ``writes`` lists (model, text) in order."""

    def __init__(self, texts: dict[str, str] | None = None, read_only: bool = False) -> None:
        self.texts = dict(texts or {})
        self.read_only = read_only
        self.writes: list[tuple[str, str]] = []

    def read_config_text(self, model: str) -> str:
        if model not in self.texts:
            raise ConfigError(f"fake repository: {model}/config.pbtxt: cannot read (no such file)")
        return self.texts[model]

    def read_config(self, model: str):
        from changeflow.domain.model_config import parse_config

        return parse_config(self.read_config_text(model), f"{model}/config.pbtxt")

    def write_config_text(self, model: str, text: str) -> None:
        if self.read_only:
            raise ConfigError(f"fake repository: {model}/config.pbtxt: cannot write (read-only file system)")
        self.texts[model] = text
        self.writes.append((model, text))

    def writable(self, model: str) -> tuple[bool, str]:
        if self.read_only:
            return False, f"fake repository: {model}/config.pbtxt: cannot write (read-only file system)"
        return True, f"{model}'s config.pbtxt writable"


class FakeRecordStore:
    """Records kept in memory; every save is kept as a chained version, as the SQL store keeps them."""

    def __init__(self, page_size: int | None = None, signer=None) -> None:
        self.versions: dict[str, list[RecordVersion]] = {}
        self.page_size = page_size  # smaller than a query's limit: proves readers follow the cursor
        self.pages_read = 0
        self.used_proofs: set[str] = set()
        self.signer = signer  # an executor's key: versions signed as the SQL store signs them
        self.identity = f"memory://fake-{id(self):x}"
        self._seq = itertools.count(1)

    def claim_proof(self, key: str, change_id: str) -> bool:
        if key in self.used_proofs:
            return False
        self.used_proofs.add(key)
        return True

    def save(self, record: ChangeRecord) -> RecordVersion:
        chain = self.versions.setdefault(record.id, [])
        previous = chain[-1].sha256 if chain else GENESIS
        content, number, seq = record.model_dump_json(), len(chain) + 1, next(self._seq)
        sha256 = link_digest(previous, record.id, number, "fake", content)
        signer, signature = (
            (self.signer.key_id, self.signer.sign(version_message(seq, sha256)))
            if self.signer is not None
            else ("", "")
        )
        version = RecordVersion(
            change_id=record.id,
            version=number,
            saved_at=datetime.now(timezone.utc),
            writer="fake",
            state=record.state,
            previous_sha256=previous,
            sha256=sha256,
            content=content,
            seq=seq,
            signer=signer,
            signature=signature,
            transitions_before=len(chain[-1].record().transitions) if chain else 0,
        )
        chain.append(version)
        return version

    def load(self, change_id: str) -> ChangeRecord:
        if change_id not in self.versions:
            raise RecordNotFound(f"no change record {change_id}")
        return self.versions[change_id][-1].record()

    def page(self, query: RecordQuery) -> RecordPage:
        self.pages_read += 1
        limit = min(query.limit, self.page_size or query.limit)
        found = [
            v[-1]
            for key, v in sorted(self.versions.items())
            if (query.after is None or key > query.after) and query.matches(v[-1].record(), v[-1].saved_at)
        ]
        records = [v.record() for v in found[:limit]]
        return RecordPage(records=records, next_after=records[-1].id if len(found) > limit else None)

    def newest(self, query: RecordQuery, offset: int = 0) -> NewestPage:
        found = [v[-1] for v in self.versions.values() if query.matches(v[-1].record(), v[-1].saved_at)]
        found.sort(key=lambda v: (v.record().transitions[0].at if v.record().transitions else v.saved_at, v.change_id))
        found.reverse()
        return NewestPage(
            records=[RecordLine.of(v.record()) for v in found[offset : offset + query.limit]], total=len(found)
        )

    def facts_page(self, query: RecordQuery) -> FactsPage:
        page = self.page(query)
        return FactsPage(facts=[change_facts(r) for r in page.records], next_after=page.next_after)

    def history(self, change_id: str) -> list[RecordVersion]:
        if change_id not in self.versions:
            raise RecordNotFound(f"no change record {change_id}")
        return list(self.versions[change_id])

    def max_seq(self) -> int:
        return max((v.seq or 0 for chain in self.versions.values() for v in chain), default=0)

    def chain_heads(self, after: str | None = None, limit: int = 1000) -> list[ChainHead]:
        heads = [
            ChainHead(key, c[-1].version, c[-1].sha256, c[-1].seq)
            for key, c in sorted(self.versions.items())
            if c and (after is None or key > after)
        ]
        return heads[:limit]


class FakeLocks:
    def __init__(self) -> None:
        self.held: list[str] = []
        self.released: list[str] = []

    @contextmanager
    def hold(self, model: str, timeout_s: float):
        self.held.append(model)
        yield f"fake-lock-{model}"

    @contextmanager
    def hold_if_free(self, model: str):
        self.held.append(model)
        yield f"fake-lock-{model}"

    @contextmanager
    def take_over(self, model: str, lease: str | None, timeout_s: float):
        self.held.append(model)
        yield lease or f"fake-lock-{model}"
        self.release(lease or f"fake-lock-{model}")

    def release(self, lease: str) -> None:
        self.released.append(lease)

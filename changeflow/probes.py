"""Send golden-set requests through a ``ModelServer`` and collect what clients would see."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from changeflow.domain.golden import CaseObservation, GoldenSet
from changeflow.exceptions import ConfigError, InferenceError
from changeflow.ports import ModelServer


def load_golden(path: str | Path) -> GoldenSet:
    try:
        return GoldenSet.model_validate(json.loads(resolve(path).read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"golden set {path}: cannot be read ({exc})") from None
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise ConfigError(f"golden set {path}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def resolve(path: str | Path) -> Path:
    """A golden-set path as given, else relative to the project root (requests name it that way)."""
    from changeflow.paths import PROJECT_ROOT

    candidate = Path(path)
    return candidate if candidate.is_absolute() or candidate.exists() else PROJECT_ROOT / candidate


def observe_case(server: ModelServer, golden: GoldenSet, index: int, version: int | None = None) -> tuple[CaseObservation, int | None]:
    """One golden case sent once: what came back (an error answer is observed) and which version answered."""
    try:
        result = server.infer(golden.model, {golden.input.name: golden.batch(index)}, version=version)
    except InferenceError as exc:
        return CaseObservation(error=str(exc)), None
    return CaseObservation(outputs=dict(result.outputs), latency_ms=result.latency_ms), result.model_version


def observe_golden(server: ModelServer, golden: GoldenSet, version: int | None = None) -> list[CaseObservation]:
    """Each golden case sent once; a request the server answers with an error is observed, not raised.

    Connection failures (``ServerUnavailable``) do raise: they are an error measuring, not a model fault.
    """
    return [observe_case(server, golden, index, version)[0] for index in range(len(golden.cases))]

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
        return GoldenSet.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"golden set {path}: cannot be read ({exc})") from None
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise ConfigError(f"golden set {path}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def observe_golden(server: ModelServer, golden: GoldenSet, version: int | None = None, model: str | None = None) -> list[CaseObservation]:
    """Each golden case sent once; a request the server answers with an error is observed, not raised.

    Connection failures (``ServerUnavailable``) do raise: they are an error measuring, not a model fault.
    """
    observations = []
    for index in range(len(golden.cases)):
        try:
            result = server.infer(model or golden.model, {golden.input.name: golden.batch(index)}, version=version)
        except InferenceError as exc:
            observations.append(CaseObservation(error=str(exc)))
            continue
        observations.append(CaseObservation(outputs=dict(result.outputs), latency_ms=result.latency_ms))
    return observations

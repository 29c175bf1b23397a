"""Triton model configs as protobuf messages: parse, render, convert, and edit them.

Uses ``tritonclient``'s ``model_config_pb2`` and protobuf's ``text_format`` / ``json_format``: no
hand-written parser, so whatever Triton accepts, we read the same way.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from google.protobuf import json_format, text_format
from tritonclient.grpc.model_config_pb2 import ModelConfig

from changeflow.exceptions import ConfigError

__all__ = ["ModelConfig", "parse_config", "render_config", "config_to_json", "config_from_dict", "with_versions", "LocalConfigStore"]


def parse_config(text: str, source: str = "config.pbtxt") -> ModelConfig:
    """Parse config.pbtxt text; a ``ConfigError`` names the source, line and problem."""
    config = ModelConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as exc:
        raise ConfigError(f"{source}: not a valid Triton model config: {exc}") from None
    return config


def render_config(config: ModelConfig) -> str:
    return text_format.MessageToString(config)


def config_to_json(config: ModelConfig) -> str:
    """The JSON Triton's load API takes as a config override."""
    return json.dumps(json_format.MessageToDict(config, preserving_proto_field_name=True))


def config_from_dict(data: dict[str, Any], source: str = "server") -> ModelConfig:
    config = ModelConfig()
    try:
        json_format.ParseDict(data, config, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise ConfigError(f"{source}: model config JSON does not parse: {exc}") from None
    return config


def with_versions(config: ModelConfig, versions: Sequence[int]) -> ModelConfig:
    """A copy of ``config`` whose version policy serves exactly ``versions``."""
    if not versions:
        raise ConfigError("a version policy needs at least one version")
    copy = ModelConfig()
    copy.CopyFrom(config)
    copy.version_policy.Clear()
    copy.version_policy.specific.versions.extend(sorted(set(int(v) for v in versions)))
    return copy


class LocalConfigStore:
    """config.pbtxt files in a model repository on this machine; writes are atomic (rename)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, model: str) -> Path:
        return self.root / model / "config.pbtxt"

    def read_config_text(self, model: str) -> str:
        try:
            return self.path(model).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{self.path(model)}: cannot read ({exc.strerror or exc})") from None

    def read_config(self, model: str) -> ModelConfig:
        return parse_config(self.read_config_text(model), str(self.path(model)))

    def write_config_text(self, model: str, text: str) -> None:
        target = self.path(model)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".config.", suffix=".pbtxt")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

"""``ConfigStore`` over a model repository on this machine: config.pbtxt files, written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from changeflow.domain.model_config import ModelConfig, parse_config
from changeflow.exceptions import ConfigError


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

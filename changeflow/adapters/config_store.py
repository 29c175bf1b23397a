"""``ConfigStore`` over a model repository on this machine: config.pbtxt files, written atomically; and
``Repositories``, every folder a fleet's replicas load from, written together (the desired state)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from changeflow.domain.model_config import ModelConfig, parse_config
from changeflow.exceptions import ChangeflowError, ConfigError
from changeflow.ports import ConfigStore


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


class Repositories:
    """The model repository folders of a fleet: one shared by every replica (a volume), or one per replica;
    every write goes to each, each atomically; a read comes from the first."""

    def __init__(self, stores: Sequence[ConfigStore]) -> None:
        if not stores:
            raise ValueError("a fleet's repositories need at least one folder")
        self.stores = list(stores)

    def read_config_text(self, model: str) -> str:
        return self.stores[0].read_config_text(model)

    def read_config(self, model: str) -> ModelConfig:
        return self.stores[0].read_config(model)

    def write_config_text(self, model: str, text: str) -> None:
        for store in self.stores:
            store.write_config_text(model, text)

    def writable(self, model: str) -> tuple[bool, str]:
        """Whether the desired state can be kept: each folder's config of ``model`` read and written back
        unchanged (the same bytes: a server restarted meanwhile loads what it did)."""
        try:
            for store in self.stores:
                store.write_config_text(model, store.read_config_text(model))
        except ChangeflowError as exc:
            return False, f"{exc}; fix: let the executor write the model repository (a volume it mounts read-write)"
        return True, f"{model}'s config.pbtxt writable in {len(self.stores)} repository folder(s)"

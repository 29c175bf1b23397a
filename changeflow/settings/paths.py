"""Where the shipped examples live: the ``changeflow.examples`` package data (the repository's
``examples/`` folder, mapped into the package by ``pyproject.toml``), in a checkout and in a wheel alike."""

from __future__ import annotations

from pathlib import Path

import changeflow.examples

EXAMPLES = Path(changeflow.examples.__file__).resolve().parent
MODEL_REPOSITORY = EXAMPLES / "model_repository"
CHANGES = EXAMPLES / "changes"
GOLDEN = EXAMPLES / "golden"

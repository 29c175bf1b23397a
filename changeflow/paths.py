"""Where the shipped examples live (the checkout this package is installed from)."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(os.environ.get("CHANGEFLOW_PROJECT_ROOT", Path(__file__).resolve().parents[1]))
EXAMPLES = PROJECT_ROOT / "examples"
MODEL_REPOSITORY = EXAMPLES / "model_repository"
CHANGES = EXAMPLES / "changes"

"""Each kind's execution flow and its restore, found by the kind's name in this room: ``flows/<kind>.py``
defines the ``@flow`` ``<kind>`` and ``restore``. A kind never points up to its flow; adding one is its
module in ``kinds/``, this one file here, its steps and its tests (``tests/kinds/test_registry.py`` checks
that every kind has both)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType

from changeflow.kinds import ChangeKind


def flow_of(kind: ChangeKind) -> Callable:
    """The kind's execution flow (a Prefect ``@flow``), called with the request, environment, record and governance."""
    return getattr(_module(kind), kind.name)


def restore_of(kind: ChangeKind) -> Callable:
    """The kind's restore, called by the compensation guard with the recorder, services and record."""
    return _module(kind).restore


def _module(kind: ChangeKind) -> ModuleType:
    return importlib.import_module(f"{__package__}.{kind.name}")  # imported when first used: no import cycle

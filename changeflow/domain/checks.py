"""Checks every reader of a file shares, so bad input is refused in one line naming the field and the fix.

Every number read from a file must be finite. A NaN compares false with every bound (``x > max`` never
refuses it) and an infinity passes any ``<=``, so either would slip through a check written for numbers.
YAML spells them ``.nan`` / ``.inf`` and Python's ``json`` takes ``NaN`` / ``Infinity``; a number too large
for a float (``1.0e+400``) reads as infinity too. Readers walk what they parsed with ``first_non_finite``
and refuse the first such value in one line naming its path.

A model validator raises ``Refusal`` (a ``ValueError``, as pydantic expects) with the fix beside the
problem, so the settings loader can print both.
"""

from __future__ import annotations

import math
from typing import Any


def first_non_finite(data: Any, path: tuple[str, ...] = ()) -> tuple[str, float] | None:
    """(dotted path, value) of the first NaN or infinity in nested mappings and lists, keys included;
    None when every number is finite."""
    if isinstance(data, float):
        return None if math.isfinite(data) else (".".join(path) or "(document)", data)
    if isinstance(data, dict):
        for key, value in data.items():
            where = (*path, str(key))
            if found := first_non_finite(key, where) or first_non_finite(value, where):
                return found
    elif isinstance(data, list):
        for index, value in enumerate(data):
            if found := first_non_finite(value, (*path, str(index))):
                return found
    return None


class Refusal(ValueError):
    """A validator's refusal: ``str()`` is the problem, ``fix`` how to put it right."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.fix = fix

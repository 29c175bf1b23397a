"""Checks of command-line arguments the commands share. Each refuses bad input in one line (exit 2) before
anything is read or written: a change ID of the right form, a period of days within reason, a wait that is
a number of seconds."""

from __future__ import annotations

import math
import re

from changeflow.domain.request import CHANGE_ID
from changeflow.exceptions import InvalidSettings

MAX_DAYS = 3_660  # ten years: a longer period is a typo (and far enough out, dates overflow)
MAX_WAIT_S = 3_600.0


def _quoted(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "…")


def change_id(value: str, command: str) -> str:
    """A change's ID: ``CHG-`` and at least 4 digits (as a request's ``id``)."""
    if not re.fullmatch(CHANGE_ID, value):
        raise InvalidSettings(
            command, "ID", f"{_quoted(value)} is not a change ID", "write CHG- and at least 4 digits, e.g. CHG-0042"
        )
    return value


def record_id(value: str, command: str) -> str:
    """A record's ID: a change's, or one the drift check opened (``DRIFT-…``, ``BASE-…``)."""
    from changeflow.services.drift import RECORD_ID

    if not (re.fullmatch(CHANGE_ID, value) or re.fullmatch(RECORD_ID, value)):
        raise InvalidSettings(
            command,
            "ID",
            f"{_quoted(value)} is not a change ID",
            "write CHG- and at least 4 digits, e.g. CHG-0042 (or a drift record's ID as `changeflow list` shows it)",
        )
    return value


def days(value: int, command: str, option: str = "--days") -> int:
    """A number of days from 1 to ``MAX_DAYS``."""
    if not 1 <= value <= MAX_DAYS:
        raise InvalidSettings(
            command,
            option,
            f"{value} is outside 1…{MAX_DAYS:,} days",
            f"give a number of days from 1 to {MAX_DAYS:,} (ten years)",
        )
    return value


def seconds(value: float, command: str, option: str, most: float = MAX_WAIT_S) -> float:
    """A finite number of seconds from 0 to ``most`` (click reads ``nan`` and ``inf`` as floats)."""
    if not (math.isfinite(value) and 0 <= value <= most):
        raise InvalidSettings(
            command,
            option,
            f"{value} is not a number of seconds from 0 to {most:g}",
            f"give {option} a number from 0 to {most:g}",
        )
    return value

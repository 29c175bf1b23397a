"""Verdicts: a closed set of outcomes, each with the reason a person reads on the change record.

An error while measuring (``ERROR``) is not a failure of the model (``FAIL``): only FAIL rolls back.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class Outcome(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"
    ERROR = "ERROR"


class Verdict(BaseModel, frozen=True):
    outcome: Outcome
    reason: str = Field(min_length=1)

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASS

    def __str__(self) -> str:
        return f"{self.outcome.value}: {self.reason}"

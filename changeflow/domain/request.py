"""A change request and the plan it leads to.

One request model for every entry point (YAML file, Prefect UI form, CLI): ``extra="forbid"`` so a typo
is an error rather than a silently ignored field, and each field says what it accepts. What a change
*does* is its ``change`` spec, one class per change kind; the kinds registry (``changeflow.kinds``)
binds the union of those classes into ``ChangeRequest`` when it loads, so nothing here names a kind.
"""

from __future__ import annotations

import unicodedata
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, model_validator

CHANGE_ID = r"^CHG-[0-9]{4,}$"
IDENTITY = r"^[a-z][a-z0-9._-]{1,63}$"
MODEL_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
K8S_NAME = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
IMAGE = r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$"

# Characters a person cannot see or that rewrite what they see: control characters (but tab and newline),
# format characters (bidirectional overrides and marks, zero-width, tags), line and paragraph separators.
_HIDDEN_CATEGORIES = {"Cc", "Cf", "Co", "Cs", "Zl", "Zp"}


def visible(value: str) -> str:
    """The text, unless it holds a character a reader cannot see (raises ValueError naming it)."""
    for position, char in enumerate(value):
        if char not in "\t\n" and (
            unicodedata.category(char) in _HIDDEN_CATEGORIES or char in "\u115f\u1160\u3164\uffa0"
        ):
            raise ValueError(f"holds an invisible or control character (U+{ord(char):04X} at position {position})")
    return value


Text = Annotated[str, AfterValidator(visible)]
K8sName = Annotated[str, Field(pattern=K8S_NAME, description="a Kubernetes name: lowercase letters, digits and '-'")]
Version = Annotated[StrictInt, Field(ge=1, le=1_000_000, description="a model version directory number, 1 or more")]
Seconds = StrictInt


class ChangeType(StrEnum):
    """Standard: pre-approved, low risk, business hours. Normal: the change advisory board approves.
    Emergency: one expedited approver, any time, reviewed afterwards."""

    STANDARD = "standard"  # low risk, pre-approved template, business hours
    NORMAL = "normal"  # medium risk, change advisory board quorum, off-hours or maintenance
    EMERGENCY = "emergency"  # high risk, one expedited approver, any time, post-implementation review


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return list(Risk).index(self)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class ChangeSpec(Strict):
    """Base of every kind's spec; a subclass declares ``kind: Literal["its_name"] = "its_name"``. Integer
    fields take ``StrictInt`` (``Version``, ``Seconds``) and text fields ``Text``: ``true`` is not a number."""

    kind: str


class RequestedWindow(Strict):
    """When the requester wants the change to happen: no earlier than, and done by."""

    not_before: AwareDatetime | None = Field(
        None, title="Not before", description="Do not start before this time (with its time zone)"
    )
    deadline: AwareDatetime | None = Field(
        None, title="Done by", description="Expire the change if it cannot run before this time"
    )

    @model_validator(mode="after")
    def _ordered(self) -> RequestedWindow:
        if self.not_before and self.deadline and self.deadline <= self.not_before:
            raise ValueError("deadline must be after not_before")
        return self


class Communication(Strict):
    """Who was told: evidence for the pre-change checklist."""

    announced_in: Text | None = Field(
        None,
        min_length=3,
        max_length=200,
        title="Announced in",
        description="Where the change was announced, e.g. #inference-changes",
    )
    on_call_ack: str | None = Field(
        None, pattern=IDENTITY, title="On-call acknowledged by", description="The on-call engineer who acknowledged it"
    )


class ChangeRequest(Strict):
    id: str = Field(pattern=CHANGE_ID, title="Change ID", description="CHG- and four or more digits, e.g. CHG-0042")
    type: ChangeType = Field(title="Change type", description="Set by the deployment you run")
    description: Text = Field(
        min_length=10,
        max_length=4_000,
        title="What changes and why",
        description="Approvers read it; the record keeps it (10 characters or more)",
    )
    requester: str = Field(
        pattern=IDENTITY, title="Requested by", description="Your name, lowercase, e.g. alice (you cannot approve it)"
    )
    model: str = Field(pattern=MODEL_NAME, title="Model", description="The Triton model this change affects")
    change: KindSpec = Field(  # noqa: F821 (bound by changeflow.kinds: the union of every kind's spec)
        title="The change", description="What to do: choose its kind, then fill in its fields"
    )
    rollback_plan: Text = Field(
        min_length=10,
        max_length=4_000,
        title="Rollback plan",
        description="How production goes back if the change fails; approvers read it",
    )
    window: RequestedWindow = Field(
        default_factory=RequestedWindow, title="When", description="Optional: not before, done by"
    )
    communication: Communication = Field(
        default_factory=Communication, title="Who was told", description="Evidence for the pre-change checklist"
    )

    @property
    def kind(self) -> str:
        return self.change.kind


class PlannedStep(BaseModel, frozen=True):
    name: str
    action: str


class KindPlan(BaseModel, frozen=True):
    """What a change kind will do: what it touches, its execution, verification and rollback steps."""

    touches: tuple[str, ...]
    execution: tuple[PlannedStep, ...]
    verification: tuple[PlannedStep, ...]
    rollback: tuple[PlannedStep, ...]


def steps(*pairs: tuple[str, str]) -> tuple[PlannedStep, ...]:
    return tuple(PlannedStep(name=n, action=a) for n, a in pairs)


# Step names more than one kind plans and records (through the shared tasks). A kind's own step names are
# constants in its module; its plan lists them and its tasks record them (tests/kinds/test_steps.py).
SMOKE_TEST = "smoke_test"  # golden requests on a live endpoint
MONITOR = "monitor"  # the bake: metrics and golden probes over a window
WAIT_ROLLOUT = "wait_rollout"  # a Kubernetes rollout, waited for like `kubectl rollout status`
VERIFY_RESTORED = "verify_restored"  # after a rollback: production is what it was

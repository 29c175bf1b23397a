"""The pre-change checklist that gates ``executing``. Facts are gathered by machine where they can be
(live server, metrics endpoint); this decides each item with its reason."""

from __future__ import annotations

from pydantic import BaseModel

from changeflow.domain.policy import WindowClass
from changeflow.domain.request import ChangeRequest
from changeflow.domain.types import ChangeType


class ChecklistFacts(BaseModel, frozen=True):
    plan_steps: int
    rollback_steps: int
    previous_available: bool | None  # None: not applicable to this kind
    previous_detail: str
    window: WindowClass
    window_name: str
    on_call_notified_by_event: bool = False
    metrics_answer: bool
    metrics_detail: str


class ChecklistItem(BaseModel, frozen=True):
    name: str
    ok: bool
    reason: str


def evaluate_checklist(request: ChangeRequest, facts: ChecklistFacts) -> list[ChecklistItem]:
    comms = request.communication
    announced = comms.announced_in or (facts.window is WindowClass.PLANNED_MAINTENANCE and f"maintenance window {facts.window_name}")
    items = [
        ChecklistItem(name="change documented", ok=facts.plan_steps > 0, reason=f"description and a plan of {facts.plan_steps} steps"),
        ChecklistItem(
            name="rollback plan defined",
            ok=bool(request.rollback_plan) and facts.rollback_steps > 0,
            reason=f"{facts.rollback_steps} rollback steps: {request.rollback_plan}",
        ),
        ChecklistItem(
            name="previous version available",
            ok=facts.previous_available is not False,
            reason=facts.previous_detail if facts.previous_available is not None else "not applicable to this kind",
        ),
    ]
    if request.type is ChangeType.EMERGENCY:
        items.append(ChecklistItem(name="window communicated", ok=True, reason="waived for an emergency change (on the record)"))
    else:
        items.append(
            ChecklistItem(
                name="window communicated",
                ok=bool(announced),
                reason=f"announced in {announced}" if announced else "no announcement: set communication.announced_in",
            )
        )
    if comms.on_call_ack:
        items.append(ChecklistItem(name="on-call notified", ok=True, reason=f"acknowledged by {comms.on_call_ack}"))
    elif facts.on_call_notified_by_event:
        items.append(ChecklistItem(name="on-call notified", ok=True, reason="change event delivered to incident management"))
    else:
        items.append(ChecklistItem(name="on-call notified", ok=False, reason="no acknowledgement: set communication.on_call_ack"))
    items.append(ChecklistItem(name="monitoring ready", ok=facts.metrics_answer, reason=facts.metrics_detail))
    return items


def blocking(items: list[ChecklistItem]) -> list[ChecklistItem]:
    return [item for item in items if not item.ok]

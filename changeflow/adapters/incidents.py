"""Outgoing change events for incident management, in the PagerDuty Events v2 change-event shape.

Posted with httpx at execute / close / rollback; a failed post is retried, then logged and given up:
it never fails the change it reports on.
"""

from __future__ import annotations

import logging
import time

import httpx

from changeflow.domain.record import ChangeRecord
from changeflow.settings.governance import IncidentEvents

log = logging.getLogger("changeflow.incidents")


def change_event(settings: IncidentEvents, record: ChangeRecord, moment: str) -> dict:
    body = {
        "routing_key": settings.routing_key,
        "payload": {
            "summary": f"{record.id} {moment}: {record.description}"[:1024],
            "source": "changeflow",
            "timestamp": record.transitions[-1].at.isoformat() if record.transitions else None,
            "custom_details": {
                "change_id": record.id,
                "type": record.type.value,
                "kind": record.kind,
                "model": record.model,
                "risk": record.risk.value,
                "state": record.state.value,
                "serving_version_before": record.serving_version_before,
                "serving_version_after": record.serving_version_after,
                "outcome": record.outcome,
            },
        },
    }
    if settings.link:
        body["links"] = [{"href": settings.link, "text": f"change {record.id}"}]
    return body


def post_change_event(settings: IncidentEvents, record: ChangeRecord, moment: str, backoff_s: float = 0.2) -> bool:
    """True when delivered; False after ``settings.attempts`` failures (logged, never raised)."""
    body = change_event(settings, record, moment)
    for attempt in range(1, settings.attempts + 1):
        try:
            response = httpx.post(settings.url, json=body, timeout=5.0)
            if response.status_code < 300:
                return True
            problem = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            problem = f"{exc.__class__.__name__}: {exc}"
        log.warning(
            "change event %s for %s: attempt %d of %d failed (%s)",
            moment,
            record.id,
            attempt,
            settings.attempts,
            problem,
        )
        if attempt < settings.attempts:
            time.sleep(backoff_s * 2 ** (attempt - 1))
    return False


class OutgoingChangeEvents:
    """``ChangeEvents``: Prefect events for the feed, PagerDuty-shaped change events for incident management."""

    def announce(self, change_id: str, what: str, payload: dict) -> None:
        from changeflow.adapters.prefect import announce

        announce(change_id, what, payload)

    def report(self, settings: IncidentEvents | None, record: ChangeRecord, moment: str) -> bool:
        return post_change_event(settings, record, moment) if settings is not None else False  # nothing was sent

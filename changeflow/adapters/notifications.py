"""Telling approvers through Apprise (what Prefect's notification blocks use): Slack, Teams, e-mail,
a webhook… whatever URLs governance lists. A notification that cannot be delivered is logged; it never
stops or fails a change."""

from __future__ import annotations

import logging

log = logging.getLogger("changeflow.notifications")


def tell_approvers(urls: list[str], title: str, body: str) -> bool:
    """Send to every URL; True when every one took it."""
    if not urls:
        return True
    import apprise

    sender = apprise.Apprise()
    unknown = [url for url in urls if not sender.add(url)]
    for url in unknown:
        log.warning("not an Apprise URL, skipped: %s", url.split("://", 1)[0] + "://…")
    try:
        delivered = bool(sender.notify(title=title, body=body, body_format=apprise.NotifyFormat.MARKDOWN))
    except Exception as exc:  # a notifier's failure is reported, never raised into the change
        log.warning("approvers not notified: %s", exc)
        return False
    if not delivered:
        log.warning("approvers not notified: a notification service refused or did not answer")
    return delivered and not unknown


def flow_run_link(flow_run_id: str) -> str:
    """The paused run in the Prefect UI (``PREFECT_UI_URL``), where approvers press Resume."""
    from prefect.settings import PREFECT_UI_URL

    base = (PREFECT_UI_URL.value() or "").rstrip("/")
    return f"{base}/runs/flow-run/{flow_run_id}" if base else f"flow run {flow_run_id}"


class PrefectApproverNotices:
    """``ApproverNotices``: Apprise for the approvers, a Prefect event when a decision is overdue, the
    paused run's page as the link."""

    def link(self) -> str:
        from prefect.context import FlowRunContext

        run = FlowRunContext.get()
        return (
            flow_run_link(str(run.flow_run.id))
            if run is not None and run.flow_run is not None
            else "the change's flow run"
        )

    def tell(self, urls, title: str, body: str) -> bool:
        return tell_approvers(list(urls), title, body)

    def overdue(self, change_id: str, after_s: float, payload: dict, also=None):
        from changeflow.adapters.prefect import overdue_notice

        return overdue_notice(change_id, after_s, payload, also=also)

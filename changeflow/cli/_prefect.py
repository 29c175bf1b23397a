"""The Prefect server the CLI talks to (the one ``PREFECT_API_URL`` names, checked before use), and the
record store on it."""

from __future__ import annotations

from prefect.settings import PREFECT_API_URL

from changeflow.exceptions import PrefectUnavailable
from changeflow.ports import RecordStore


def require_prefect() -> str:
    url = PREFECT_API_URL.value()
    if not url:
        raise PrefectUnavailable("PREFECT_API_URL is not set; fix: start `prefect server start` and export PREFECT_API_URL=http://127.0.0.1:4200/api")
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        problem = client.api_healthcheck()
    if problem is not None:
        raise PrefectUnavailable(f"Prefect server at {url} does not answer ({problem}); fix: start it or correct PREFECT_API_URL")
    return url


def record_store() -> RecordStore:
    """The change records on the Prefect server (after checking it answers)."""
    from changeflow.bootstrap import record_store as build
    from changeflow.settings.environment import RecordStoreSettings

    require_prefect()
    return build(RecordStoreSettings(kind="prefect"))

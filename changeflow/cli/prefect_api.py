"""The Prefect server the CLI talks to: the one ``PREFECT_API_URL`` names, checked before use."""

from __future__ import annotations

from prefect.settings import PREFECT_API_URL

from changeflow.exceptions import ChangeflowError


class PrefectUnavailable(ChangeflowError):
    """No reachable Prefect server is configured."""


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

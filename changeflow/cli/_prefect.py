"""The Prefect server the CLI talks to (the one ``PREFECT_API_URL`` names, checked before use), and the
record database the CLI reads (the environment file's, else the default)."""

from __future__ import annotations

from changeflow.exceptions import PrefectUnavailable
from changeflow.ports import RecordStore


def require_prefect() -> str:
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise PrefectUnavailable("PREFECT_API_URL is not set; fix: start `prefect server start` and export PREFECT_API_URL=http://127.0.0.1:4200/api")
    from prefect.client.orchestration import get_client

    import httpx

    with get_client(sync_client=True) as client:
        problem = client.api_healthcheck()
        if problem is None:
            try:
                client.request("GET", "/admin/version")  # the health check is open; this one needs the credential
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code in (401, 403):
                    raise PrefectUnavailable(f"Prefect server at {url} refused the credential ({exc.response.status_code}); "
                                             "fix: export PREFECT_API_AUTH_STRING=USER:PASSWORD as the server was started with") from None
                raise
    if problem is not None:
        raise PrefectUnavailable(f"Prefect server at {url} does not answer ({problem}); fix: start it or correct PREFECT_API_URL")
    return url


def record_store(environment=None) -> RecordStore:
    """The record database of ``environment``, else of the environment file (``CHANGEFLOW_ENVIRONMENT``,
    ``.changeflow/environment.yaml``) when there is one, else the default (``CHANGEFLOW_RECORDS_URL`` or
    ``.changeflow/records.db``). Reading records needs no Prefect server."""
    from changeflow.bootstrap import record_store as build
    from changeflow.settings.defaults import environment_or_default, environment_path
    from changeflow.settings.environment import RecordStoreSettings

    if environment is None and environment_path().is_file():
        environment = environment_or_default()
    return build(environment.records if environment is not None else RecordStoreSettings())

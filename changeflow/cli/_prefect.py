"""The Prefect server the CLI talks to (the one ``PREFECT_API_URL`` names, checked before use), and the
record database the CLI reads (the environment file's, else the default)."""

from __future__ import annotations

import os

from changeflow.exceptions import InvalidSettings, PrefectUnavailable
from changeflow.ports import RecordStore


def require_prefect() -> str:
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise PrefectUnavailable(
            "PREFECT_API_URL is not set; fix: start `prefect server start` and export PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    import httpx
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        problem = client.api_healthcheck()
        if problem is None:
            try:
                client.request("GET", "/admin/version")  # the health check is open; this one needs the credential
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code in (401, 403):
                    raise PrefectUnavailable(
                        f"Prefect server at {url} refused the credential ({exc.response.status_code}); "
                        "fix: export PREFECT_API_AUTH_STRING=USER:PASSWORD as the server was started with"
                    ) from None
                raise
    if problem is not None:
        raise PrefectUnavailable(
            f"Prefect server at {url} does not answer ({problem}); fix: start it or correct PREFECT_API_URL"
        )
    return url


def record_store(environment=None) -> RecordStore:
    """The record database of ``environment``, else of the environment file (``CHANGEFLOW_ENVIRONMENT``,
    ``.changeflow/environment.yaml``) when there is one, else the default (``CHANGEFLOW_RECORDS_URL`` or
    ``.changeflow/records.db``). Reading records needs no Prefect server."""
    from changeflow.bootstrap import record_store as build

    return build(_settings(environment))


def record_lines():
    """The same database's list reader (``changeflow list``: no SQLAlchemy to import)."""
    from changeflow.bootstrap import record_lines as build

    return build(_settings(None))


def _settings(environment):
    from changeflow.settings.defaults import environment_or_default, environment_path

    if environment is None and environment_path().is_file():
        environment = environment_or_default()
    return _database(environment.records if environment is not None else None)


def _database(settings):
    """``settings`` (default: ``CHANGEFLOW_RECORDS_URL``'s) if their URL names a database. A URL from that
    variable is a default, which pydantic does not validate: checked here."""
    from pydantic import ValidationError

    from changeflow.settings.environment import RECORDS_URL, RecordStoreSettings

    url = settings.url if settings is not None else os.environ.get(RECORDS_URL, "")
    try:
        settings = settings or RecordStoreSettings()
        settings = RecordStoreSettings(
            url=settings.url, publish=settings.publish
        )  # runs the URL check (and spelling) a default skips
    except ValidationError:
        raise _not_a_database(url, "not a database's (sqlite or postgresql)") from None
    if settings.url.rstrip("/") == "sqlite:":
        raise _not_a_database(url, "naming no file (records kept in memory would be lost at exit)")
    return settings


def _not_a_database(url: str, problem: str) -> InvalidSettings:
    """One line naming the URL's scheme only: the rest may hold a password."""
    from changeflow.settings.environment import RECORDS_URL

    scheme = url.split(":", 1)[0].strip()[:20] if ":" in url else ""
    return InvalidSettings(
        RECORDS_URL,
        "url",
        f"is {f'a {scheme}: URL' if scheme else 'a URL without a scheme'}, {problem}",
        "use sqlite:///ABSOLUTE/PATH.db or postgresql+psycopg://USER@HOST:PORT/DATABASE",
    )

"""A real `prefect server start` for the command-line tests (what a user runs), once per session."""

import os

import pytest


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory):
    from changeflow.local.prefect_server import LocalPrefectServer

    server = LocalPrefectServer(home=tmp_path_factory.mktemp("prefect-home")).start()
    yield server.api_url
    server.stop()


@pytest.fixture(scope="session")
def records_db_url(tmp_path_factory):
    """One record database for the session's command-line runs, as a team shares one."""
    return f"sqlite:///{tmp_path_factory.mktemp('records') / 'records.db'}"


@pytest.fixture
def cli_env(prefect_api, records_db_url):
    return {**os.environ, "PREFECT_API_URL": prefect_api, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "CHANGEFLOW_RECORDS_URL": records_db_url}

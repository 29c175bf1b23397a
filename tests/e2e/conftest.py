"""A real `prefect server start` for the command-line tests (what a user runs), once per session."""

import os

import pytest


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory):
    from changeflow.local.prefect_server import LocalPrefectServer

    server = LocalPrefectServer(home=tmp_path_factory.mktemp("prefect-home")).start()
    yield server.api_url
    server.stop()


@pytest.fixture
def cli_env(prefect_api):
    return {**os.environ, "PREFECT_API_URL": prefect_api, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}

"""A Prefect server changeflow starts is behind Prefect's basic auth: the API refuses a client without
the credential, changeflow's commands say so in one line, and work with it."""

import os

import httpx
import pytest

from tests.e2e.test_cli import run


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    from changeflow.local.prefect_server import LocalPrefectServer, new_auth_string

    server = LocalPrefectServer(home=tmp_path_factory.mktemp("guarded"), auth_string=new_auth_string()).start()
    yield server
    server.stop()


def test_the_api_demands_the_credential(guarded):
    user, password = guarded.auth_string.split(":", 1)
    assert httpx.post(f"{guarded.api_url}/flows/filter", json={}).status_code == 401
    assert httpx.post(f"{guarded.api_url}/flows/filter", json={}, auth=(user, "wrong")).status_code == 401
    assert httpx.post(f"{guarded.api_url}/flows/filter", json={}, auth=(user, password)).status_code == 200


def test_changeflow_says_what_is_missing_and_works_with_it(guarded, tmp_path):
    base = {k: v for k, v in os.environ.items() if k != "PREFECT_API_AUTH_STRING"} | {
        "CHANGEFLOW_RECORDS_URL": f"sqlite:///{tmp_path / 'r.db'}"
    }
    refused = run("approve", "CHG-0001", "--approver", "carol", env={**base, "PREFECT_API_URL": guarded.api_url})
    assert (
        refused.returncode == 1
        and "refused the credential (401)" in refused.stderr
        and "Traceback" not in refused.stderr
    )
    allowed = run("approve", "CHG-0001", "--approver", "carol", env={**base, **guarded.client_env})
    assert allowed.returncode == 1 and "CHG-0001 is not waiting for approval" in allowed.stderr  # reached the server

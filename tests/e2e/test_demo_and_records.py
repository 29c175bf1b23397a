"""`changeflow demo --json` of the installed wheel against a running Prefect server: its changes go through
the deployments and a worker; then every record read back by the CLI."""

import json
from collections import Counter

import pytest

from tests.e2e.conftest import in_venv
from tests.e2e.test_cli import run

pytestmark = [pytest.mark.triton, pytest.mark.slow]
EXPECTED = ["closed", "closed", "aborted", "rolled_back", "closed", "rejected", "closed"]


@pytest.fixture(scope="module")
def demo_report(fresh_venv, prefect_api, records_db_url, tmp_path_factory):
    """The demo of the installed wheel (run from an empty folder outside the checkout), against the session's
    Prefect server and record database, so the checkout's CLI reads its records back."""
    where = tmp_path_factory.mktemp("demo-cwd")
    result = in_venv(
        fresh_venv,
        "demo",
        "--json",
        cwd=where,
        timeout=900,
        PREFECT_API_URL=prefect_api,
        CHANGEFLOW_RECORDS_URL=records_db_url,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert list(where.iterdir()) == []  # nothing written where it ran
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_demo_outcomes(demo_report):
    changes = demo_report["changes"]
    assert [c["outcome"] for c in changes] == EXPECTED
    assert [c["kind"] for c in changes] == [
        "config_change",
        "model_deployment",
        "model_deployment",
        "model_deployment",
        "config_change",
        "config_change",
        "model_deployment",
    ]
    deploy_v2, abort_v3, rollback_v4 = changes[1:4]
    streamed = changes[6]  # the generator, asked and judged over Triton's gRPC stream
    assert streamed["model"] == "generator" and (
        streamed["serving_version_before"],
        streamed["serving_version_after"],
    ) == (1, 2)
    assert (deploy_v2["serving_version_before"], deploy_v2["serving_version_after"]) == (1, 2)
    assert abort_v3["serving_version_after"] == 2 and "golden cases wrong" in abort_v3["detail"]  # still serving v2
    assert (rollback_v4["serving_version_before"], rollback_v4["serving_version_after"]) == (2, 2)
    assert rollback_v4["rollback_ms"] < 1000
    assert all(c["requests"] > 0 for c in changes)
    assert all(c["failed_requests"] == 0 for c in changes if c["id"] != rollback_v4["id"])  # only v4 fails, by design
    assert demo_report["triton_version"] == "2.51.0" and demo_report["prefect_version"] == "3.8.8"
    assert demo_report["incident_events_received"] >= 8
    assert set(demo_report) >= {"changes", "triton_version", "prefect_version"}
    assert set(changes[0]) >= {
        "id",
        "type",
        "kind",
        "model",
        "outcome",
        "serving_version_before",
        "serving_version_after",
        "rollback_ms",
        "requests",
        "failed_requests",
    }


def test_every_demo_record_is_readable_from_the_record_database(demo_report, cli_env):
    for change in demo_report["changes"]:
        result = run("record", change["id"], "--json", env=cli_env)
        assert result.returncode == 0, result.stderr
        record = json.loads(result.stdout)
        assert record["id"] == change["id"] and record["state"] == change["outcome"]
    emergency = json.loads(run("record", demo_report["changes"][4]["id"], "--json", env=cli_env).stdout)
    assert any(t["to_state"] == "review_pending" for t in emergency["transitions"])
    assert emergency["review"].startswith("oscar: ") and "overrides freeze 'year-end'" in json.dumps(
        emergency["transitions"]
    )
    refused = json.loads(run("record", demo_report["changes"][5]["id"], "--json", env=cli_env).stdout)
    alice = refused["approvals"][0]
    assert alice["approver"] == "alice" and not alice["counted"] and "cannot approve" in alice["refusal"]
    status = run("status", demo_report["changes"][3]["id"], env=cli_env)
    assert status.returncode == 0 and "rolled_back" in status.stdout
    assert (
        json.loads(run("status", demo_report["changes"][3]["id"], "--json", env=cli_env).stdout)["state"]
        == "rolled_back"
    )
    listing = json.loads(run("list", "--json", env=cli_env).stdout)
    assert {c["id"] for c in demo_report["changes"]} <= {c["id"] for c in listing}
    text = run("record", demo_report["changes"][1]["id"], env=cli_env)
    assert "Execution" in text.stdout and "promote" in text.stdout


def test_unknown_change_is_one_line(cli_env):
    result = run("record", "CHG-9999", env=cli_env)
    assert (
        result.returncode == 1 and result.stderr.strip() == "failed: no change record CHG-9999 in the record database"
    )
    result = run("approve", "CHG-9999", "--approver", "carol", env=cli_env)
    assert result.returncode == 1 and "CHG-9999 is not waiting for approval" in result.stderr


def test_report_and_calendar_read_the_demo_records(demo_report, cli_env, tmp_path):
    result = run("report", "--json", "--html", str(tmp_path / "dora.html"), env=cli_env)
    assert result.returncode == 0, result.stderr
    dora = json.loads(result.stdout)
    # The server may also hold other tests' changes: the report must agree with the records listed.
    states = Counter(c["state"] for c in json.loads(run("list", "--json", env=cli_env).stdout))
    assert dora["states"] == dict(sorted(states.items()))
    assert states["rolled_back"] >= 1 and states["aborted"] >= 1 and states["rejected"] >= 1  # the demo's, at least
    executed = states["closed"] + states["aborted"] + states["rolled_back"] + states["review_pending"]
    assert (dora["executed"], dora["failed"]) == (executed, states["rolled_back"])
    assert dora["change_fail_rate"] == round(states["rolled_back"] / executed, 4)
    assert dora["recovery_minutes_median"] is not None and dora["recovery_minutes_median"] < 1
    page = (tmp_path / "dora.html").read_text()
    assert f"{executed} executed (the fail rate counts these)" in page
    assert f"{states['rolled_back']} failed in production" in page and "By model" in page
    calendar = run("calendar", "--now", "2026-12-10T12:00:00+01:00", "--json", env=cli_env)
    assert calendar.returncode == 0 and "freeze: year-end" in calendar.stdout

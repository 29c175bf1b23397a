"""A user's loop on the command line: submit a normal change, two CAB members approve it with
`changeflow approve` (the resume path the Prefect UI uses), the change runs on the real Tritons."""

import json
import subprocess

import numpy as np
import pytest
import yaml

from tests.e2e.test_cli import CLI, ROOT, run

pytestmark = pytest.mark.triton

REQUEST = {
    "id": "CHG-0601",
    "type": "normal",
    "description": "Raise feature_scaler's batching delay for a CLI round trip.",
    "requester": "alice",
    "model": "feature_scaler",
    "change": {"kind": "config_change", "set": {"dynamic_batching.max_queue_delay_microseconds": 300}},
    "rollback_plan": "Write back the previous config.pbtxt and reload feature_scaler.",
    "communication": {"announced_in": "#inference-changes", "on_call_ack": "olivia"},
}


@pytest.fixture
def environment_file(tmp_path, triton_process, staging_process):
    from changeflow.adapters.config_store import LocalConfigStore
    from changeflow.adapters.triton import TritonModelServer

    environment = {
        "production": triton_process.endpoint("production").model_dump(mode="json"),
        "staging": staging_process.endpoint("staging").model_dump(mode="json"),
        "records": {},  # the default: CHANGEFLOW_RECORDS_URL, the session's record database (cli_env)
    }
    path = tmp_path / "environment.yaml"
    path.write_text(yaml.safe_dump(environment))
    store = LocalConfigStore(triton_process.repository)
    original = store.read_config_text("feature_scaler")
    yield path
    store.write_config_text("feature_scaler", original)
    TritonModelServer(triton_process.http_url).load("feature_scaler", store.read_config("feature_scaler"))


def test_submit_then_approve_from_the_command_line(tmp_path, environment_file, cli_env, change_worker):
    request = tmp_path / "chg-0601.yaml"
    request.write_text(yaml.safe_dump(REQUEST))
    submitted = subprocess.Popen(
        [CLI, "submit", str(request), "--environment", str(environment_file), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env,
        cwd=ROOT,
    )
    try:
        refused = run("approve", "CHG-0601", "--approver", "alice", "--wait", "90", env=cli_env)
        assert refused.returncode == 0, refused.stderr  # sent; the flow refuses it and records why
        for approver in ("carol", "dave"):
            sent = run(
                "approve",
                "CHG-0601",
                "--approver",
                approver,
                "--comment",
                f"{approver} on call",
                "--wait",
                "60",
                env=cli_env,
            )
            assert sent.returncode == 0, sent.stderr
        stdout, stderr = submitted.communicate(timeout=180)
    finally:
        submitted.kill()
    assert submitted.returncode == 0, stderr[-2000:]
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["state"] == "closed", result
    record = json.loads(run("record", "CHG-0601", "--json", env=cli_env).stdout)
    assert [(a["approver"], a["counted"]) for a in record["approvals"]] == [
        ("alice", False),
        ("carol", True),
        ("dave", True),
    ]
    assert record["approvals"][1]["comment"] == "carol on call"


def submit_and_decide(
    tmp_path, environment_file, cli_env, request: dict, decisions: list[tuple[str, bool]]
) -> subprocess.CompletedProcess:
    path = tmp_path / f"{request['id'].lower()}.yaml"
    path.write_text(yaml.safe_dump(request))
    submitted = subprocess.Popen(
        [CLI, "submit", str(path), "--environment", str(environment_file), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env,
        cwd=tmp_path,
    )
    try:
        for approver, approve in decisions:
            sent = run(
                "approve",
                request["id"],
                "--approver",
                approver,
                *([] if approve else ["--reject"]),
                "--wait",
                "90",
                env=cli_env,
            )
            assert sent.returncode == 0, sent.stderr
        stdout, stderr = submitted.communicate(timeout=240)
    finally:
        submitted.kill()
    return subprocess.CompletedProcess(submitted.args, submitted.returncode, stdout, stderr)


def deploy(change_id: str, to_version: int) -> dict:
    return {
        "id": change_id,
        "type": "emergency",
        "description": f"Hotfix: classifier v{to_version} for an incident.",
        "requester": "alice",
        "model": "classifier",
        "rollback_plan": "Reload classifier v1; it stays warm through the bake.",
        "change": {
            "kind": "model_deployment",
            "from_version": 1,
            "to_version": to_version,
            "bake_seconds": 10,
            "golden_set": str(ROOT / "examples" / "golden" / "classifier.json"),
        },
        "communication": {"on_call_ack": "olivia"},
    }


def test_submit_exit_codes_tell_a_pipeline_the_outcome(
    tmp_path, environment_file, cli_env, triton_process, change_worker
):
    """0 closed is above; here 3 rejected, 4 aborted (production untouched), 5 rolled back (restored)."""
    from changeflow.adapters.config_store import LocalConfigStore
    from changeflow.adapters.triton import TritonModelServer

    production = TritonModelServer(triton_process.http_url)
    production.load("classifier", LocalConfigStore(triton_process.repository).read_config("classifier"))  # serving v1
    rejected = submit_and_decide(tmp_path, environment_file, cli_env, {**REQUEST, "id": "CHG-0611"}, [("carol", False)])
    assert rejected.returncode == 3 and json.loads(rejected.stdout.strip().splitlines()[-1])["state"] == "rejected", (
        rejected.stderr[-1500:]
    )
    aborted = submit_and_decide(tmp_path, environment_file, cli_env, deploy("CHG-0612", 3), [("oscar", True)])
    assert aborted.returncode == 4 and production.ready_versions("classifier") == [1], aborted.stderr[-1500:]
    rolled_back = submit_and_decide(tmp_path, environment_file, cli_env, deploy("CHG-0613", 4), [("oscar", True)])
    assert rolled_back.returncode == 5 and production.ready_versions("classifier") == [1], rolled_back.stderr[-1500:]
    assert production.infer("classifier", {"INPUT": np.zeros((1, 4), np.float32)}).model_version == 1
    # the flow runs end in states named after the outcome, not a green Completed (#27); `submit` says each state
    for ran, name, said in (
        (rejected, "Rejected", "CHG-0611 rejected: "),
        (aborted, "Aborted", "CHG-0612 aborted: "),
        (rolled_back, "Rolled back", "CHG-0613 rolled_back: rolled back (FAIL: "),
    ):
        assert f": {name} — {said}" in " ".join(ran.stderr.split()), ran.stderr[-1500:]  # (the console wraps lines)


def test_a_dry_run_refuses_an_id_already_on_record(tmp_path, environment_file, cli_env, change_worker):
    request = {
        **REQUEST,
        "id": "CHG-0621",
        "type": "standard",
        "change": {"kind": "config_change", "set": {"instance_group.0.count": 9}},
    }
    path = tmp_path / "chg-0621.yaml"
    path.write_text(yaml.safe_dump(request))
    first = run("submit", str(path), "--environment", str(environment_file), env=cli_env, timeout=180)
    assert first.returncode == 3, first.stderr[-1500:]  # outside the catalog's bounds: rejected, nothing touched
    again = run("submit", str(path), "--dry-run", env=cli_env)
    assert again.returncode == 2 and f"{path}: id: CHG-0621 is already on record (rejected)" in again.stderr, (
        again.stderr
    )


def test_a_requester_cannot_bring_her_own_clock_or_governance(tmp_path, environment_file, cli_env):
    """The clock and the rules are the executor's: `submit --now` and `submit --governance` are refused in one
    line before anything is created (a dry run may still preview a plan under another folder)."""
    path = tmp_path / "chg-0631.yaml"
    path.write_text(yaml.safe_dump({**REQUEST, "id": "CHG-0631"}))
    clock = run(
        "submit", str(path), "--environment", str(environment_file), "--now", "2026-11-25T22:00:00+01:00", env=cli_env
    )
    assert clock.returncode == 2 and "--now: the scheduling clock is the executor's configuration" in clock.stderr, (
        clock.stderr
    )
    mine = tmp_path / "mine"
    mine.mkdir()
    rules = run("submit", str(path), "--environment", str(environment_file), "--governance", str(mine), env=cli_env)
    assert (
        rules.returncode == 2
        and "--governance: the worker judges a change by its own sealed governance bundle" in rules.stderr
    ), rules.stderr
    assert "CHG-0631" not in run("list", env=cli_env).stdout

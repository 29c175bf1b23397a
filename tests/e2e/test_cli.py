"""The ``changeflow`` command as a user runs it (a subprocess, real exit codes and output)."""

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHANGES = ROOT / "examples" / "changes"
CLI = shutil.which("changeflow") or str(Path(__import__("sys").executable).parent / "changeflow")

# every test here starts the `changeflow` command (1-3 s each, a Python that imports Prefect): not in `make check`
pytestmark = pytest.mark.cli


# the command runs in the checkout; its default record database would be .changeflow/records.db there
_RECORDS = tempfile.mkdtemp(prefix="changeflow-cli-records-")
RECORDS_URL = f"sqlite:///{_RECORDS}/records.db"
__import__("atexit").register(shutil.rmtree, _RECORDS, True)


def run(*args, timeout=120, env=None):
    env = (
        env
        if env is not None
        else {**os.environ, "CHANGEFLOW_RECORDS_URL": os.environ.get("CHANGEFLOW_RECORDS_URL", RECORDS_URL)}
    )
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)


def test_help_lists_the_commands():
    result = run("--help")
    assert result.returncode == 0
    for command in ("submit", "triton", "demo"):
        assert command in result.stdout


@pytest.mark.parametrize("path", sorted((CHANGES / "invalid").glob("*.yaml")), ids=lambda p: p.name)
def test_invalid_requests_exit_2_with_one_line_naming_the_field(path):
    field = re.search(r"expect-field: (\S+)", path.read_text()).group(1)
    result = run("submit", str(path.relative_to(ROOT)), "--dry-run")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {path.relative_to(ROOT)}: {field}")
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize("path", sorted(CHANGES.glob("*.yaml")), ids=lambda p: p.name)
def test_dry_run_prints_the_plan_and_touches_nothing(path):
    result = run("submit", str(path.relative_to(ROOT)), "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["change_id"] in path.read_text()
    assert plan["execution_steps"] and plan["rollback_steps"]
    text = run("submit", str(path.relative_to(ROOT)), "--dry-run")
    assert "dry run: nothing touched" in text.stdout and "rollback" in text.stdout


def test_commands_that_need_prefect_say_so_without_it_and_records_need_no_prefect(tmp_path):
    env = {k: v for k, v in __import__("os").environ.items() if k != "PREFECT_API_URL"}
    env["CHANGEFLOW_RECORDS_URL"] = f"sqlite:///{tmp_path / 'records.db'}"
    result = subprocess.run(
        [CLI, "approve", "CHG-0001", "--approver", "carol"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 1
    assert "PREFECT_API_URL is not set" in result.stderr and "Traceback" not in result.stderr
    result = subprocess.run([CLI, "status", "CHG-0001"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert (result.returncode, result.stderr.strip()) == (1, "failed: no change record CHG-0001 in the record database")
    worker = subprocess.run(
        [CLI, "worker", "--pool", "changeflow-local"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60
    )
    assert worker.returncode == 1 and "PREFECT_API_URL is not set" in worker.stderr and "Traceback" not in worker.stderr


@pytest.mark.triton
def test_dry_run_checks_the_golden_set_against_the_live_model(tmp_path, triton_process):
    import yaml

    def environment(url):
        path = tmp_path / f"environment-{len(list(tmp_path.iterdir()))}.yaml"
        staging = {
            "name": "staging",
            "http_url": "http://127.0.0.1:10",
        }  # a server of its own (a dry run does not ask it)
        path.write_text(yaml.safe_dump({"production": {"name": "production", "http_url": url}, "staging": staging}))
        return str(path)

    golden = json.loads((ROOT / "examples" / "golden" / "classifier.json").read_text())
    golden["cases"][3]["inputs"] = {"FEATURES": golden["cases"][3]["inputs"]["INPUT"]}
    (tmp_path / "golden.json").write_text(json.dumps(golden))
    request = yaml.safe_load((CHANGES / "normal-deploy-v2.yaml").read_text())
    request["change"]["golden_set"] = "golden.json"  # relative to the request file
    (tmp_path / "request.yaml").write_text(yaml.safe_dump(request))

    wrong = run(
        "submit", str(tmp_path / "request.yaml"), "--dry-run", "--environment", environment(triton_process.http_url)
    )
    assert wrong.returncode == 2 and len(wrong.stderr.strip().splitlines()) == 1, wrong.stderr
    assert (
        f"{tmp_path / 'request.yaml'}: change.golden_set: {tmp_path / 'golden.json'}: cases[3].inputs.FEATURES: the model has no input FEATURES"
        in wrong.stderr
    )

    golden["cases"][3]["inputs"] = {"INPUT": golden["cases"][3]["inputs"]["FEATURES"]}
    (tmp_path / "golden.json").write_text(json.dumps(golden))
    fits = run(
        "submit",
        str(tmp_path / "request.yaml"),
        "--dry-run",
        "--json",
        "--environment",
        environment(triton_process.http_url),
    )
    assert fits.returncode == 0 and not any("golden set" in w for w in json.loads(fits.stdout)["warnings"]), fits.stderr
    unreachable = run(
        "submit",
        str(tmp_path / "request.yaml"),
        "--dry-run",
        "--json",
        "--environment",
        environment("http://127.0.0.1:9"),
    )
    assert unreachable.returncode == 0
    assert any("not checked against the live model" in w for w in json.loads(unreachable.stdout)["warnings"])


@pytest.mark.triton
def test_a_deployment_of_the_version_already_serving_is_refused_before_anything_runs(tmp_path, triton_process):
    import yaml

    from changeflow.adapters.triton import TritonModelServer

    serving = max(TritonModelServer(triton_process.http_url, triton_process.metrics_url).ready_versions("classifier"))
    (tmp_path / "environment.yaml").write_text(
        yaml.safe_dump(
            {
                "production": {"name": "production", "http_url": triton_process.http_url},
                "staging": {"name": "staging", "http_url": "http://127.0.0.1:10"},
                "records": {"url": f"sqlite:///{tmp_path / 'records.db'}"},
            }
        )
    )
    request = yaml.safe_load((CHANGES / "normal-deploy-v2.yaml").read_text())
    request["change"].update(
        from_version=None, to_version=serving, golden_set=str(ROOT / "examples" / "golden" / "classifier.json")
    )
    (tmp_path / "request.yaml").write_text(yaml.safe_dump(request))
    for extra in (["--dry-run"], []):  # live, it is refused before Prefect is asked for anything
        result = run(
            "submit", str(tmp_path / "request.yaml"), *extra, "--environment", str(tmp_path / "environment.yaml")
        )
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == (
            f"error: {tmp_path / 'request.yaml'}: change.to_version: production already serves classifier v{serving}: "
            "there is nothing to deploy; fix: name the version (or state) you mean to move to"
        ), result.stderr
    assert (
        not (tmp_path / "records.db").exists()
        or "CHG-0002" not in run("list", "--environment", str(tmp_path / "environment.yaml")).stdout
    )


@pytest.mark.triton
def test_golden_capture_and_check_from_the_command_line(tmp_path, triton_process):
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps([{"INPUT": [0.5, -1.0, 2.0, 0.25]}, {"INPUT": [[1, 2, 3, 4], [4, 3, 2, 1]]}]))
    captured = run(
        "golden",
        "capture",
        "--server",
        triton_process.http_url,
        "--model",
        "feature_scaler",
        "--inputs",
        str(inputs),
        "--out",
        str(tmp_path / "g.json"),
    )
    assert captured.returncode == 0, captured.stderr
    golden = json.loads((tmp_path / "g.json").read_text())
    assert golden["cases"][0]["expected"] == {"OUTPUT": [0.5, -1.0, 2.0, 0.25]}  # one sample in, one sample out
    assert golden["cases"][1]["expected"] == {
        "OUTPUT": [[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]]
    }  # a batch in, a batch out
    assert golden["inputs"] == {"INPUT": {"datatype": "FP32", "shape": [4]}}
    checked = run("golden", "check", str(tmp_path / "g.json"), "--server", triton_process.http_url, "--json")
    assert checked.returncode == 0 and json.loads(checked.stdout)["outcome"] == "PASS"
    golden["cases"][0]["expected"]["OUTPUT"][0] = 0.75
    (tmp_path / "g.json").write_text(json.dumps(golden))
    failed = run("golden", "check", str(tmp_path / "g.json"), "--server", triton_process.http_url)
    assert failed.returncode == 1 and "case 0: OUTPUT off by up to 0.25" in failed.stdout
    bad = run(
        "golden",
        "capture",
        "--server",
        triton_process.http_url,
        "--model",
        "feature_scaler",
        "--inputs",
        str(tmp_path / "none.json"),
        "--out",
        str(tmp_path / "x.json"),
    )
    assert bad.returncode == 2 and "--inputs" in bad.stderr and "does not exist" in bad.stderr


def test_audit_verify_names_the_first_broken_link_and_export_writes_the_bundle(tmp_path):
    import json
    import os
    from datetime import datetime, timezone

    from sqlalchemy import text

    from changeflow.adapters.sql_records import SqlRecordStore
    from changeflow.domain.record import ChangeRecord, State
    from changeflow.domain.request import Risk
    from changeflow.settings.defaults import executor_key
    from changeflow.settings.loader import load_change_request
    from tests.database_admin import drop_append_only

    url = f"sqlite:///{tmp_path / 'records.db'}"
    store = SqlRecordStore(url, signer=executor_key())  # as the session's executor writes them
    record = ChangeRecord.open(
        load_change_request(CHANGES / "normal-deploy-v2.yaml"), Risk.MEDIUM, datetime.now(timezone.utc)
    )
    for state in (None, State.ASSESSED, State.REJECTED):
        if state:
            record.transition(state, datetime.now(timezone.utc), "")
        store.save(record)
    env = {**os.environ, "CHANGEFLOW_RECORDS_URL": url}
    intact = run("audit", "verify", "--all", env=env)
    assert (intact.returncode, intact.stdout.strip()) == (
        0,
        "intact: 1 record(s), 3 version(s); every version signed by an executor of the governance bundle",
    )
    assert run("audit", "export", str(tmp_path / "bundle.jsonl"), env=env).returncode == 0
    lines = (tmp_path / "bundle.jsonl").read_text().splitlines()
    assert len(lines) == 4 and json.loads(lines[-1])["heads"][record.id]["version"] == 3
    drop_append_only(store.engine)  # a database administrator
    with store.engine.begin() as db:
        db.execute(
            text("UPDATE change_record_versions SET content = replace(content, 'alice', 'carol') WHERE version = 2")
        )
    broken = run("audit", "verify", record.id, env=env)
    assert (
        broken.returncode == 8
        and broken.stderr.strip() == f"broken: {record.id} version 2: its content does not match its digest (rewritten)"
    )
    assert run("audit", "verify", env=env).returncode == 2  # neither an ID nor --all


def test_audit_checkpoint_is_kept_and_verify_uses_the_newest_one_to_name_a_truncated_chain(tmp_path):
    """`audit checkpoint` keeps a signed checkpoint in the executor's folder; `audit verify` compares with
    the newest one by default (and says which): the globally last version deleted exits 8, and so does the
    next `audit checkpoint` (a cut is never checkpointed over). Without an executor key: exit 2, one line."""
    import os
    from datetime import datetime, timezone

    from sqlalchemy import text

    from changeflow.adapters.sql_records import SqlRecordStore
    from changeflow.domain.record import ChangeRecord, State
    from changeflow.domain.request import Risk
    from changeflow.settings.defaults import executor_key
    from changeflow.settings.loader import load_change_request
    from tests.database_admin import drop_append_only

    url = f"sqlite:///{tmp_path / 'records.db'}"
    store = SqlRecordStore(url, signer=executor_key())
    record = ChangeRecord.open(
        load_change_request(CHANGES / "normal-deploy-v2.yaml"), Risk.MEDIUM, datetime.now(timezone.utc)
    )
    for state in (None, State.ASSESSED, State.REJECTED):
        if state:
            record.transition(state, datetime.now(timezone.utc), "")
        store.save(record)
    env = {
        **os.environ,
        "CHANGEFLOW_RECORDS_URL": url,
        "CHANGEFLOW_CHECKPOINTS": str(tmp_path / "checkpoints"),
        "PREFECT_API_URL": "",
    }
    written = run("audit", "checkpoint", env=env)
    assert written.returncode == 0 and written.stdout.startswith("checkpoint written: "), (
        written.stdout + written.stderr
    )
    path = written.stdout.split(": ", 1)[1].split(" (")[0]
    assert written.stdout.strip().endswith("(sequence 3, 1 record(s))") and path.startswith(
        str(tmp_path / "checkpoints")
    )
    assert run("audit", "checkpoint", env=env).stdout.startswith(f"checkpoint unchanged since: {path}")
    intact = run("audit", "verify", "--all", env=env)
    assert intact.returncode == 0 and intact.stdout.splitlines()[0].startswith(
        f"checkpoint: {path} (sequence 3, 1 record(s), "
    )
    assert intact.stdout.splitlines()[1].startswith("intact: 1 record(s), 3 version(s)")
    drop_append_only(store.engine)  # a database administrator deletes the globally last version: no gap shows
    with store.engine.begin() as db:
        db.execute(text("DELETE FROM change_record_versions WHERE version = 3"))
        head = store.history(record.id)[1]  # version 2 (read on another connection: the delete is not committed yet)
        db.execute(
            text("UPDATE change_records SET content = :c, version = 2, sha256 = :d"),
            {"c": head.content, "d": head.sha256},
        )
    broken = run("audit", "verify", record.id, env=env)
    assert broken.returncode == 8 and broken.stderr.strip() == (
        f"broken: {record.id} version 2: the checkpoint has version 3; the chain ends at 2 (truncated) (and 1 more record(s))"
    ), broken.stderr
    assert (
        run("audit", "verify", "--all", "--checkpoint", path, env=env).returncode == 8
    )  # the file named, as a copy kept elsewhere
    refused = run("audit", "checkpoint", env=env)
    assert refused.returncode == 8 and refused.stderr.startswith(
        "broken: the record database lost versions since checkpoint "
    ), refused.stderr
    keyless = {k: v for k, v in env.items() if k not in ("CHANGEFLOW_EXECUTOR_KEY", "CHANGEFLOW_CHECKPOINTS")}
    none = run("audit", "checkpoint", env=keyless)
    assert (
        none.returncode == 2 and len(none.stderr.strip().splitlines()) == 1 and "CHANGEFLOW_EXECUTOR_KEY" in none.stderr
    )


def test_recovery_refuses_a_deployment_name_that_is_not_flow_slash_deployment():
    result = run("recovery", "--deployment", "safety-net")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (
        result.stderr.strip()
        == "error: --deployment: deployment: 'safety-net' is not FLOW/DEPLOYMENT; fix: e.g. safety-net/safety-net"
    )

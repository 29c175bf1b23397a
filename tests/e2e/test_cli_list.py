"""``changeflow list`` as an auditor reads it: newest first, a page at a time with where it is, the date
each change was opened, outcomes kept to a line, changes nobody requested apart. In process (typer), a
SQLite record database, no server."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

import changeflow.kinds  # noqa: F401 (binds the kinds' specs into ChangeRequest: this module builds records)
from changeflow.adapters.sql_records import SqlRecordStore
from changeflow.cli import app
from changeflow.domain.record import ChangeRecord, State, Transition, Unrequested
from changeflow.domain.request import ChangeType, Risk

AT = datetime(2026, 11, 25, 21, 0, tzinfo=timezone.utc)


def record(change_id: str, minutes: int, change_type=ChangeType.NORMAL, outcome: str = "") -> ChangeRecord:
    r = ChangeRecord(
        id=change_id,
        description="d",
        type=change_type,
        kind="model_deployment",
        model="m",
        requester="alice",
        risk=Risk.MEDIUM,
    )
    r.transitions.append(Transition(from_state=None, to_state=State.REQUESTED, at=AT + timedelta(minutes=minutes)))
    r.outcome = outcome
    return r


@pytest.fixture
def listed(tmp_path):
    url = f"sqlite:///{tmp_path / 'records.db'}"
    store = SqlRecordStore(url)
    for i in range(120):
        store.save(record(f"CHG-{i:04d}", i, outcome="rolled back: " + "p=0.001 " * 40 if i == 119 else "closed"))
    store.save(record("DRIFT-0001", 5, change_type=Unrequested.UNAUTHORIZED))
    env = {"CHANGEFLOW_RECORDS_URL": url, "CHANGEFLOW_GOVERNANCE": str(tmp_path / "none"), "PREFECT_API_URL": ""}

    def run(*args: str):
        result = CliRunner().invoke(app, ["list", *args], env=env, terminal_width=200)
        assert result.exit_code == 0, result.output
        return result.output

    return run


def test_the_newest_page_comes_first_with_dates_and_where_it_is(listed):
    shown = listed()
    changes = shown.split("unauthorized changes")[0]
    assert changes.index("CHG-0119") < changes.index("CHG-0070") and "CHG-0069" not in changes
    assert "2026-11-25 22:59 UTC" in changes  # CHG-0119, opened AT + 119 min, in the calendar's zone (UTC here)
    assert "page 1 of 3 (120 in all), newest first; next: changeflow list --page 2" in shown
    assert "…" in changes and changes.count("p=0.001") < 15  # the long outcome is cut to a line
    assert "DRIFT-0001" in shown.split("unauthorized changes (made outside changeflow)")[1]  # apart
    assert "DRIFT-0001" not in changes


def test_later_pages_every_record_and_drift_alone(listed):
    assert "CHG-0019" in listed("--page", "3") and "CHG-0020" not in listed("--page", "3")
    assert "page 3 of 3 (120 in all), newest first" in listed("--page", "3")
    everything = json.loads(listed("--json", "--all"))
    assert len(everything) == 121 and everything[0]["id"] == "CHG-0119" and everything[0]["opened_at"]
    assert len(json.loads(listed("--json"))) == 50
    assert [r["id"] for r in json.loads(listed("--json", "--drift"))] == ["DRIFT-0001"]


def test_a_page_or_limit_out_of_range_is_one_line(tmp_path):
    env = {"CHANGEFLOW_RECORDS_URL": f"sqlite:///{tmp_path / 'r.db'}", "PREFECT_API_URL": ""}
    for args, field in ((["--page", "0"], "--page"), (["--limit", "0"], "--limit"), (["--limit", "9999"], "--limit")):
        result = CliRunner().invoke(app, ["list", *args], env=env)
        assert result.exit_code == 2 and field in result.stderr and "Traceback" not in result.output, result.output


@pytest.mark.cli
def test_list_starts_without_the_kinds_and_readers_of_whole_records_still_parse_them(tmp_path):
    """`changeflow list` parses lines only over the database's own driver, so its process imports neither
    the kinds (numpy, tritonclient), alembic nor SQLAlchemy (over a second of its start before); the
    commands that parse whole records bind the kinds."""
    import subprocess
    import sys

    from changeflow.settings.defaults import executor_key

    url = f"sqlite:///{tmp_path / 'records.db'}"
    SqlRecordStore(url, signer=executor_key()).save(record("CHG-0001", 1, outcome="closed"))  # the session's executor
    env = {**__import__("os").environ, "CHANGEFLOW_RECORDS_URL": url}  # the shipped governance
    probe = (
        "import sys\nfrom changeflow.cli import app\n"
        "try:\n    app(['list'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('changeflow.kinds', 'numpy', 'tritonclient', 'alembic', 'sqlalchemy', 'prefect') if m in sys.modules))"
    )
    listed = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert "CHG-0001" in listed.stdout and listed.stdout.strip().endswith("[]"), listed.stdout + listed.stderr
    changeflow_cli = [sys.executable, "-c", "from changeflow.cli import main; main()"]
    shown = subprocess.run(
        [*changeflow_cli, "record", "CHG-0001"], env=env, capture_output=True, text=True, timeout=120
    )
    assert shown.returncode == 0 and "CHG-0001" in shown.stdout, shown.stdout + shown.stderr
    audited = subprocess.run(
        [*changeflow_cli, "audit", "verify", "CHG-0001", "--unsigned"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert audited.returncode == 0, audited.stdout + audited.stderr

"""Bad command-line input is one line and exit 2, before anything is read or written: a records URL that
is not a database, a period of days out of reason, an export to a folder, an ID of the wrong form. The
typer app runs in this process (no server is started: each refusal comes before one would be asked)."""

import pytest
from typer.testing import CliRunner

from changeflow.cli import app


@pytest.fixture
def invoke(tmp_path):
    env = {
        "CHANGEFLOW_RECORDS_URL": f"sqlite:///{tmp_path / 'records.db'}",
        "CHANGEFLOW_ENVIRONMENT": str(tmp_path / "no-environment.yaml"),
        "PREFECT_API_URL": "",
    }

    def run(*args: str, **more_env: str):
        return CliRunner().invoke(app, list(args), env={**env, **more_env})

    return run


def one_line(result) -> str:
    """The single ``error:`` line of a refused command (exit 2), without the label."""
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and "Traceback" not in result.output, (
        result.exit_code,
        result.output,
        result.stderr,
    )
    assert lines[0].startswith("error: ")
    return lines[0].removeprefix("error: ")


@pytest.mark.parametrize("url", ["http://x", "mysql://root:hunter2@db/records", "sqlite:///", "records.db"])
def test_a_records_url_that_is_not_a_database_is_one_line_naming_the_variable(invoke, url):
    line = one_line(invoke("list", CHANGEFLOW_RECORDS_URL=url))
    assert (
        line.startswith("CHANGEFLOW_RECORDS_URL: url: is a ")
        and "fix: use sqlite:///ABSOLUTE/PATH.db or postgresql+psycopg://" in line
    )
    assert "hunter2" not in line


@pytest.mark.parametrize("command", ["report", "calendar"])
@pytest.mark.parametrize("days", ["999999999", "0", "-5"])
def test_a_period_of_days_out_of_reason_is_refused(invoke, command, days):
    assert (
        one_line(invoke(command, "--days", days))
        == f"{command}: --days: {days} is outside 1…3,660 days; fix: give a number of days from 1 to 3,660 (ten years)"
    )


def test_an_audit_export_to_a_folder_or_a_missing_folder_is_refused(invoke, tmp_path):
    assert one_line(invoke("audit", "export", str(tmp_path))).startswith(
        f"{tmp_path}: FILE: cannot be written (Is a directory); fix: name a file"
    )
    assert "(No such file or directory)" in one_line(invoke("audit", "export", str(tmp_path / "none" / "audit.jsonl")))


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["record"],
        ["history"],
        ["approve", "--approver", "carol"],
        ["review", "--reviewer", "oscar", "--summary", "s"],
    ],
    ids=lambda a: a[0],
)
@pytest.mark.parametrize("given", ["CHG-12", "chg-0012", "CHG-0012 ", "0012", "../CHG-0012"])
def test_every_command_taking_a_change_id_checks_its_form(invoke, args, given):
    line = one_line(invoke(args[0], given, *args[1:]))
    assert line.startswith(
        f"{args[0]}: ID: {given!r} is not a change ID; fix: write CHG- and at least 4 digits, e.g. CHG-0042"
    )


def test_a_drift_records_id_is_taken_where_a_record_is_read(invoke):
    found = invoke("status", "DRIFT-20261207-010203-ab12")
    assert found.exit_code == 1 and "no change record DRIFT-20261207-010203-ab12" in found.stderr
    assert one_line(invoke("review", "DRIFT-20261207-010203-ab12", "--reviewer", "oscar", "--summary", "s")).startswith(
        "review: ID:"
    )


@pytest.mark.parametrize("wait", ["nan", "inf", "-1", "1e9"])
def test_an_approval_wait_that_is_not_a_number_of_seconds_is_refused(invoke, wait):
    assert one_line(invoke("approve", "CHG-0012", "--approver", "carol", "--wait", wait)).startswith(
        "approve: --wait: "
    )


def test_an_audit_that_cannot_check_signatures_says_so_instead_of_passing(invoke, monkeypatch):
    """Without any executor key (no pinned bundle, no key of its own) a chain recomputed by a database
    writer would verify: the audit refuses to call it intact unless asked for digests only."""
    monkeypatch.delenv("CHANGEFLOW_EXECUTOR_KEY", raising=False)
    monkeypatch.delenv("CHANGEFLOW_GOVERNANCE_KEYS", raising=False)
    line = one_line(invoke("audit", "verify", "--all"))
    assert line.startswith("audit verify: keys: no executor key is known") and "--unsigned" in line
    digests_only = invoke("audit", "verify", "--all", "--unsigned")
    assert digests_only.exit_code == 0 and "signatures NOT checked" in digests_only.stdout


@pytest.mark.parametrize(
    "args, start",
    [
        (
            ["--summary", "too short"],
            "review: --summary: has 9 characters; fix: write what happened and what follows (10 to 4,000 characters)",
        ),
        (["--summary", "x" * 4_001], "review: --summary: has 4,001 characters"),
        (["--summary", "Delay lowered; p99 recovered.", "--wait", "nan"], "review: --wait: "),
        (["--summary", "Delay lowered; p99 recovered.", "--reviewer", " "], "review: --reviewer: names nobody"),
    ],
    ids=["short", "long", "wait", "nobody"],
)
def test_a_review_that_cannot_count_is_refused_before_anything_is_signed_or_sent(invoke, args, start):
    reviewer = [] if "--reviewer" in args else ["--reviewer", "oscar"]
    assert one_line(invoke("review", "CHG-0012", *reviewer, *args)).startswith(start)

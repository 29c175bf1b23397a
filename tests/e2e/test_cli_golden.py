"""``changeflow golden capture | check`` as typed: a path on the command line is read from the working directory
(and a missing one says so, not "the request file's folder"), and ``-o`` is ``--out`` as in ``governance keygen``.
The typer app runs in this process against a fake server (no Triton is started)."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from changeflow.cli import app, golden
from changeflow.domain.model_config import parse_config
from tests.fakes import FakeModelServer

ROOT = Path(__file__).resolve().parents[2]
SCALER = parse_config((ROOT / "examples" / "model_repository" / "feature_scaler" / "config.pbtxt").read_text())
CASES = [{"INPUT": [0.5, -1.0, 2.0, 0.25]}]
URL = "http://fake:8000"  # any URL: the fixture serves it


@pytest.fixture
def scaler(monkeypatch, tmp_path):
    """A feature_scaler that echoes its input, served whatever URL is typed; the working directory is a
    temporary folder and the governance folder another one, so that a path read from the wrong one fails."""
    server = FakeModelServer(lambda model, version, inputs: {"OUTPUT": inputs["INPUT"]}, ready={"feature_scaler": [1]})
    server.configs["feature_scaler"] = SCALER
    monkeypatch.setattr(golden, "_server", lambda url, grpc=None: server)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.setenv("CHANGEFLOW_GOVERNANCE", str(tmp_path / "governance"))
    return server


def run(*args: str):
    return CliRunner().invoke(app, ["golden", *args])


def test_capture_reads_inputs_from_the_working_directory_and_writes_with_o(scaler):
    Path("cases.json").write_text(json.dumps(CASES))
    captured = run("capture", "--server", URL, "--model", "feature_scaler", "--inputs", "cases.json", "-o", "g.json")
    assert captured.exit_code == 0, captured.output
    assert json.loads(Path("g.json").read_text())["cases"][0]["expected"] == {"OUTPUT": CASES[0]["INPUT"]}
    checked = run("check", "g.json", "--server", URL, "--json")
    assert checked.exit_code == 0 and json.loads(checked.stdout)["outcome"] == "PASS", checked.output


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (
            ("capture", "--server", URL, "--model", "feature_scaler", "--inputs", "missing.json", "--out", "g.json"),
            "--inputs",
        ),
        (("check", "missing.json", "--server", URL), "FILE"),
    ],
    ids=["capture --inputs", "check FILE"],
)
def test_a_missing_file_is_one_line_saying_relative_paths_are_read_from_the_working_directory(scaler, argv, option):
    result = run(*argv)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.strip() == (
        f"error: {Path.cwd() / 'missing.json'}: {option}: does not exist; "
        "fix: check the path (a relative path is read from the working directory)"
    )
    assert not Path("g.json").exists()


def test_every_out_option_has_the_short_o():
    """The same option, meaning the same thing (where to write the file), is spelled the same in every command."""
    from typer.main import get_command

    outs = {command: param.opts for command, param in options_by_command(get_command(app)) if "--out" in param.opts}
    assert ("golden", "capture") in outs and ("governance", "keygen") in outs
    assert all("-o" in opts for opts in outs.values()), outs


def options_by_command(group, path=()):
    """(command path, parameter) for every command under ``group``, subcommands included."""
    for name, command in getattr(group, "commands", {}).items():
        yield from options_by_command(command, (*path, name))
    for param in getattr(group, "params", []):
        yield path, param

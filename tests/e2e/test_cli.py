"""The ``changeflow`` command as a user runs it (a subprocess, real exit codes and output)."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHANGES = ROOT / "examples" / "changes"
CLI = shutil.which("changeflow") or str(Path(__import__("sys").executable).parent / "changeflow")


def run(*args, timeout=120, env=None):
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


def test_commands_that_need_prefect_say_so_without_it():
    env = {k: v for k, v in __import__("os").environ.items() if k != "PREFECT_API_URL"}
    result = subprocess.run([CLI, "status", "CHG-0001"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert result.returncode == 1
    assert "PREFECT_API_URL is not set" in result.stderr and "Traceback" not in result.stderr

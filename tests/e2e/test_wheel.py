"""The built wheel: one import name, its own data, and it runs outside the checkout.

The wheel is built from this checkout and installed with ``--no-deps`` into a fresh venv in a temporary
folder; its dependencies (Prefect, tritonclient, …) are made visible to that venv through a ``.pth``
file naming the project venv's site-packages, so the test needs no network. What is under test is the
wheel's own content: ``changeflow`` is imported from the fresh venv (asserted), never from the checkout.
"""

import json
import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dist), str(ROOT)], capture_output=True, text=True)
    if built.returncode != 0:
        pytest.skip(f"the wheel could not be built here (pip wheel needs setuptools from the package index): {built.stderr[-500:]}")
    return next(dist.glob("changeflow-*.whl"))


@pytest.fixture(scope="module")
def fresh_venv(wheel, tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet", "--no-deps", str(wheel)], check=True)
    purelib = Path(subprocess.run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    (purelib / "project_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return venv


def in_venv(venv: Path, *args: str, cwd: Path, timeout: float = 120, **env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PREFECT_API_URL")}
    environment.update(PATH=f"{venv / 'bin'}{os.pathsep}{environment['PATH']}", PREFECT_SERVER_ANALYTICS_ENABLED="false", **env)
    return subprocess.run([str(venv / "bin" / "changeflow"), *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout)


def test_the_wheel_ships_one_top_level_package_with_flows_tasks_and_examples(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"changeflow", f"{wheel.name.split('-py3')[0]}.dist-info"}
    for shipped in ("changeflow/flows/lifecycle.py", "changeflow/tasks/shared.py", "changeflow/kinds/model_deployment.py",
                    "changeflow/examples/changes/normal-deploy-v2.yaml", "changeflow/examples/golden/classifier.json",
                    "changeflow/examples/model_repository/classifier/4/model.py", "changeflow/examples/model_repository/sample_model.py",
                    "changeflow/examples/model_repository/digits/centroids.npy", "changeflow/examples/golden/digits-inputs.npz"):
        assert shipped in names, shipped
    assert not any("__pycache__" in n for n in names)


def test_dry_run_from_an_installed_wheel_outside_the_checkout(fresh_venv, tmp_path):
    where = in_venv(fresh_venv, "examples", cwd=tmp_path)
    examples = Path(where.stdout.strip())
    assert where.returncode == 0 and fresh_venv in examples.parents, where.stdout + where.stderr
    result = in_venv(fresh_venv, "submit", str(examples / "changes" / "normal-deploy-v2.yaml"), "--dry-run", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["change_id"] == "CHG-0002" and str(examples / "golden" / "classifier.json") in plan["execution_steps"][1]["action"]
    copied = in_venv(fresh_venv, "examples", str(tmp_path / "mine"), cwd=tmp_path)
    assert copied.returncode == 0 and (tmp_path / "mine" / "changes" / "normal-deploy-v2.yaml").exists()
    relative = in_venv(fresh_venv, "submit", "mine/changes/normal-deploy-v2.yaml", "--dry-run", "--json", cwd=tmp_path)
    assert str(tmp_path / "mine" / "golden" / "classifier.json") in json.loads(relative.stdout)["execution_steps"][1]["action"]


@pytest.mark.slow
@pytest.mark.triton
def test_the_demo_runs_from_an_installed_wheel(fresh_venv, tmp_path):
    result = in_venv(fresh_venv, "demo", "--json", cwd=tmp_path, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert [c["outcome"] for c in report["changes"]] == ["closed", "closed", "aborted", "rolled_back", "closed", "rejected"]
    assert not (tmp_path / ".changeflow").exists() and list(tmp_path.iterdir()) == []  # nothing written where it ran

"""The built wheel: one import name, its own data, and it runs outside the checkout (its demo runs in
test_demo_and_records.py).

The wheel is built from this checkout and installed with ``--no-deps`` into a fresh venv in a temporary
folder; its dependencies (Prefect, tritonclient, …) are made visible to that venv through a ``.pth``
file naming the project venv's site-packages, so the test needs no network. What is under test is the
wheel's own content: ``changeflow`` is imported from the fresh venv (asserted), never from the checkout.
"""

import json
import zipfile
from pathlib import Path

from tests.e2e.conftest import in_venv


def test_the_wheel_ships_one_top_level_package_with_flows_tasks_and_examples(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"changeflow", f"{wheel.name.split('-py3')[0]}.dist-info"}
    for shipped in (
        "changeflow/flows/lifecycle.py",
        "changeflow/tasks/shared.py",
        "changeflow/kinds/model_deployment.py",
        "changeflow/examples/changes/normal-deploy-v2.yaml",
        "changeflow/examples/golden/classifier.json",
        "changeflow/examples/model_repository/classifier/4/model.py",
        "changeflow/examples/model_repository/sample_model.py",
        "changeflow/examples/model_repository/digits/centroids.npy",
        "changeflow/examples/golden/digits-inputs.npz",
    ):
        assert shipped in names, shipped
    assert not any("__pycache__" in n for n in names)


def test_dry_run_from_an_installed_wheel_outside_the_checkout(fresh_venv, tmp_path):
    where = in_venv(fresh_venv, "examples", cwd=tmp_path)
    examples = Path(where.stdout.strip())
    assert where.returncode == 0 and fresh_venv in examples.parents, where.stdout + where.stderr
    result = in_venv(
        fresh_venv, "submit", str(examples / "changes" / "normal-deploy-v2.yaml"), "--dry-run", "--json", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    actions = " ".join(step["action"] for step in plan["execution_steps"])  # validation names its golden set
    assert plan["change_id"] == "CHG-0002" and str(examples / "golden" / "classifier.json") in actions
    copied = in_venv(fresh_venv, "examples", str(tmp_path / "mine"), cwd=tmp_path)
    assert copied.returncode == 0 and (tmp_path / "mine" / "changes" / "normal-deploy-v2.yaml").exists()
    relative = in_venv(fresh_venv, "submit", "mine/changes/normal-deploy-v2.yaml", "--dry-run", "--json", cwd=tmp_path)
    actions = " ".join(step["action"] for step in json.loads(relative.stdout)["execution_steps"])
    assert str(tmp_path / "mine" / "golden" / "classifier.json") in actions

"""Models the project did not shape: an image classifier (UINT8 in, INT64 + FP32 out, batched), a text
classifier (BYTES in and out, batched) and a two-input, two-output model without batching. Each one's
golden set is captured from version 1 with `changeflow golden capture`, then 1 → 2 closes, 2 → 3 is
aborted in staging and 2 → 4 is rolled back by the bake, each through the model-deployment flow run
directly with the examples' governance (how a normal change is approved: tests/governed). Outcomes are
checked by asking Triton, not by reading the record."""

import json
import subprocess

import pytest
from changeflow.flows.model_deployment import model_deployment

from changeflow import ChangeRequest, State
from changeflow.adapters.config_store import LocalConfigStore
from changeflow.bootstrap import record_store
from changeflow.settings.loader import load_change_request, load_governance
from tests.conftest import EXAMPLES
from tests.e2e.test_cli import CLI

pytestmark = [pytest.mark.triton, pytest.mark.slow]
MODELS = [
    ("digits", "digits-inputs.npz"),
    ("sentiment", "sentiment-inputs.json"),
    ("fraud_rules", "fraud_rules-inputs.json"),
]


def deployment(model: str, number: int, old: int, new: int, golden_set: str) -> ChangeRequest:
    data = load_change_request(EXAMPLES / "changes" / "normal-deploy-v2.yaml").model_dump(mode="json")
    data.update(
        id=f"CHG-{number:04d}",
        model=model,
        description=f"Deploy {model} v{new}, replacing v{old}.",
        rollback_plan=f"Reload {model} with version_policy specific [{old}]; v{old} stays warm.",
    )
    data["change"].update(from_version=old, to_version=new, golden_set=golden_set, bake_seconds=8)
    return ChangeRequest.model_validate(data)


@pytest.fixture
def governance():
    return load_governance(EXAMPLES)


def deploy(request: ChangeRequest, environment, governance):
    """(result, record) of the deployment run directly: its record is opened as a direct execution."""
    result = model_deployment(request, environment, governance=governance)
    return result, record_store(environment.records).load(request.id)


def answered_by(production, golden_file: str) -> tuple[list[int], str]:
    """Which versions are READY and whether production answers the golden set right, asked of Triton."""
    check = subprocess.run(
        [CLI, "golden", "check", golden_file, "--server", production.http_url, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return production.ready_versions(json.loads(open(golden_file).read())["model"]), json.loads(check.stdout)["outcome"]


@pytest.mark.parametrize("model, inputs", MODELS, ids=[m for m, _ in MODELS])
def test_any_model_through_the_deployment_flow(model, inputs, environment, governance, production, tmp_path):
    production.load(model, LocalConfigStore(environment.production.repository).read_config(model))
    assert production.ready_versions(model) == [1]
    golden = tmp_path / f"{model}.json"
    captured = subprocess.run(
        [
            CLI,
            "golden",
            "capture",
            "--server",
            production.http_url,
            "--model",
            model,
            "--version",
            "1",
            "--inputs",
            str(EXAMPLES / "golden" / inputs),
            "--out",
            str(golden),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert captured.returncode == 0, captured.stderr
    assert json.loads(golden.read_text())["cases"], "the capture wrote no cases"
    base = 500 + 10 * [m for m, _ in MODELS].index(model)
    try:
        result, record = deploy(deployment(model, base, 1, 2, str(golden)), environment, governance)
        assert result.state is State.CLOSED, result.outcome
        assert answered_by(production, str(golden)) == ([2], "PASS")

        result, record = deploy(deployment(model, base + 1, 2, 3, str(golden)), environment, governance)
        assert result.state is State.ABORTED and "validation failed in staging" in result.outcome, result.outcome
        assert answered_by(production, str(golden)) == ([2], "PASS") and result.serving_version_after == 2

        result, record = deploy(deployment(model, base + 2, 2, 4, str(golden)), environment, governance)
        assert result.state is State.ROLLED_BACK, result.outcome
        assert "injected failure" in record.verification_steps[-1].detail or "injected failure" in result.outcome
        assert answered_by(production, str(golden)) == ([2], "PASS")
    finally:
        production.unload(model)


def test_a_streaming_model_through_the_deployment_flow(environment, governance, production, tmp_path):
    """The generator streams its tokens (decoupled: Triton refuses it over HTTP): its golden set is captured
    from v1 over the gRPC stream, 1 → 2 closes, 2 → 3 (other text) is aborted in staging, 2 → 4 (breaks
    streams mid-way once warm) is rolled back by the bake; production is then asked over the stream."""
    model = "generator"
    production.load(model, LocalConfigStore(environment.production.repository).read_config(model))
    assert production.ready_versions(model) == [1]
    golden = tmp_path / "generator.json"
    grpc = ["--server", production.http_url, "--grpc", environment.production.grpc_url]
    captured = subprocess.run(
        [CLI, "golden", "capture", *grpc, "--model", model, "--version", "1"]
        + ["--inputs", str(EXAMPLES / "golden" / "generator-inputs.json"), "-o", str(golden)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert captured.returncode == 0, captured.stderr
    assert len(json.loads(golden.read_text())["cases"]) == 4

    def answered() -> tuple[list[int], str]:
        check = subprocess.run(
            [CLI, "golden", "check", str(golden), *grpc, "--json"], capture_output=True, text=True, timeout=120
        )
        return production.ready_versions(model), json.loads(check.stdout)["outcome"]

    try:
        result, _ = deploy(deployment(model, 600, 1, 2, str(golden)), environment, governance)
        assert result.state is State.CLOSED, result.outcome
        assert answered() == ([2], "PASS")

        result, _ = deploy(deployment(model, 601, 2, 3, str(golden)), environment, governance)
        assert result.state is State.ABORTED and "validation failed in staging" in result.outcome, result.outcome
        assert answered() == ([2], "PASS")

        result, record = deploy(deployment(model, 602, 2, 4, str(golden)), environment, governance)
        assert result.state is State.ROLLED_BACK, result.outcome
        assert "stream broke after 3 responses" in result.outcome + record.verification_steps[-1].detail
        assert answered() == ([2], "PASS")
    finally:
        production.unload(model)

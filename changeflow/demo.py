"""``changeflow demo``: the sample changes end to end on local servers, with a typed summary."""

from __future__ import annotations

from importlib.metadata import version as package_version

from pydantic import BaseModel
from rich.console import Console

from changeflow import paths
from changeflow.adapters.triton import TritonModelServer
from changeflow.adapters.triton_server import TritonServer
from changeflow.domain.golden import assess_golden
from changeflow.probes import load_golden, observe_golden


class DemoChange(BaseModel):
    id: str
    type: str
    kind: str
    model: str
    outcome: str
    serving_version_before: int | None = None
    serving_version_after: int | None = None
    rollback_ms: float | None = None
    requests: int = 0
    failed_requests: int = 0


class DemoReport(BaseModel):
    changes: list[DemoChange]
    triton_version: str
    prefect_version: str
    baseline_check: str


def run_demo(progress: Console | None = None) -> DemoReport:
    say = progress.print if progress else (lambda *a, **k: None)
    say("[bold]starting[/] a local Triton on a private copy of examples/model_repository …")
    with TritonServer(paths.MODEL_REPOSITORY, name="production", load_models=["classifier"], copy_repository=True) as triton:
        server = TritonModelServer(triton.http_url, triton.metrics_url, name="production")
        say(f"  production Triton {server.server_version()} at {triton.http_url}, serving classifier {server.ready_versions('classifier')}")
        golden = load_golden(paths.GOLDEN / "classifier.json")
        verdict = assess_golden(golden, observe_golden(server, golden))
        say(f"  golden set on the serving version: {verdict}")
        report = DemoReport(
            changes=[],
            triton_version=server.server_version(),
            prefect_version=package_version("prefect"),
            baseline_check=str(verdict),
        )
        say("[bold]stopping[/] Triton …")
    return report

"""Monitor (bake): sample the new version on production over the bake window; verdict by domain.analysis."""

from prefect import get_run_logger, task
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext

from changeflow.adapters.factory import model_server
from changeflow.domain.analysis import BakeThresholds
from changeflow.domain.record import Phase
from changeflow.environment import Environment
from changeflow.monitoring import BakeReport, bake
from changeflow.probes import load_golden
from changeflow.recorder import Recorder
from tasks._common import NO_RETRY


def _cancellation_requested() -> str | None:
    """Cooperative cancellation: the bake asks Prefect whether its flow run is being cancelled."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return None
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(context.flow_run.id).state
    if state is not None and (state.is_cancelling() or state.is_cancelled()):
        return f"flow run {context.flow_run.name} cancelled during the bake"
    return None


@task(name="monitor", **NO_RETRY)  # a bake is not retried: its samples are the evidence
def monitor(
    recorder: Recorder, environment: Environment, golden_set: str, version: int, seconds: float, limits: BakeThresholds
) -> BakeReport:
    logger = get_run_logger()
    production = model_server(environment.production)
    with recorder.step(Phase.VERIFICATION, "monitor") as step:
        report = bake(
            production,
            production,
            load_golden(golden_set),
            version,
            seconds=seconds,
            interval_s=environment.bake.interval_s,
            probes_per_sample=environment.bake.probes_per_sample,
            limits=limits,
            cancelled=_cancellation_requested,
            on_sample=lambda sample, verdict: logger.info("bake sample at %.1fs: %s", sample.at_s, verdict),
        )
        step.detail = f"{report.verdict} ({len(report.samples)} samples, {report.elapsed_s:.1f}s)"
        if not report.verdict.passed:
            step.fail(step.detail)
        logger.info("bake of v%s: %s", version, step.detail)
        return report

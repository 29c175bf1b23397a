"""Smoke test: a few live golden requests on production, each answered right by the expected version."""

from prefect import get_run_logger, task

from changeflow.adapters.factory import model_server
from changeflow.domain.record import Phase
from changeflow.domain.verdict import Outcome, Verdict
from changeflow.environment import Environment
from changeflow.monitoring import probe
from changeflow.probes import load_golden
from changeflow.recorder import Recorder
from tasks._common import STEP


@task(name="smoke-test", **STEP)
def smoke_test(
    recorder: Recorder, environment: Environment, golden_set: str, version: int | None, phase: Phase = Phase.VERIFICATION, target: str = "production"
) -> Verdict:
    """Golden requests to ``target`` (production, or staging: a candidate's own endpoint); with ``version``,
    each must be answered by it."""
    with recorder.step(phase, "smoke_test" if target == "production" else f"smoke_test_{target}") as step:
        golden = load_golden(golden_set)
        count = environment.bake.smoke_requests
        failures, problem = probe(model_server(getattr(environment, target)), golden, count, version)
        if failures:
            verdict = Verdict(outcome=Outcome.FAIL, reason=f"{failures} of {count} smoke requests failed: {problem}")
            step.fail(str(verdict))
        else:
            by = f" by v{version}" if version is not None else ""
            verdict = Verdict(outcome=Outcome.PASS, reason=f"{count} of {count} smoke requests to {target} answered right{by}")
            step.detail = str(verdict)
        get_run_logger().info("smoke test on %s: %s", target, verdict)
        return verdict

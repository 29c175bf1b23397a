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
def smoke_test(recorder: Recorder, environment: Environment, golden_set: str, version: int, phase: Phase = Phase.VERIFICATION) -> Verdict:
    with recorder.step(phase, "smoke_test") as step:
        golden = load_golden(golden_set)
        count = environment.bake.smoke_requests
        failures, problem = probe(model_server(environment.production), golden, count, version)
        if failures:
            verdict = Verdict(outcome=Outcome.FAIL, reason=f"{failures} of {count} smoke requests failed: {problem}")
            step.fail(str(verdict))
        else:
            verdict = Verdict(outcome=Outcome.PASS, reason=f"{count} of {count} smoke requests answered right by v{version}")
            step.detail = str(verdict)
        get_run_logger().info("smoke test on production: %s", verdict)
        return verdict

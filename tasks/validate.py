"""Validate: the golden set against the staged version; a FAIL aborts the change before production."""

from prefect import get_run_logger, task

from changeflow.adapters.factory import model_server
from changeflow.domain.golden import assess_golden
from changeflow.domain.record import Phase
from changeflow.domain.verdict import Verdict
from changeflow.environment import Environment
from changeflow.probes import load_golden, observe_golden
from changeflow.recorder import Recorder
from tasks._common import STEP


@task(name="validate", **STEP)
def validate(recorder: Recorder, environment: Environment, golden_set: str, version: int) -> Verdict:
    with recorder.step(Phase.EXECUTION, "validate") as step:
        golden = load_golden(golden_set)
        verdict = assess_golden(golden, observe_golden(model_server(environment.staging), golden, version=version))
        step.detail = str(verdict)
        if not verdict.passed:
            step.fail(str(verdict))
        get_run_logger().info("validation of %s v%s on staging: %s", golden.model, version, verdict)
        return verdict

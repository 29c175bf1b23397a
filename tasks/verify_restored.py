"""Rollback step: the restored version is the only one READY, answers smoke requests and the golden set."""

from prefect import get_run_logger, task

from changeflow.adapters.factory import model_server
from changeflow.domain.golden import assess_golden
from changeflow.domain.record import Phase
from changeflow.domain.verdict import Outcome, Verdict
from changeflow.environment import Environment
from changeflow.monitoring import probe
from changeflow.probes import load_golden, observe_golden
from changeflow.recorder import Recorder
from tasks._common import STEP


@task(name="verify-restored", **STEP)
def verify_restored(recorder: Recorder, environment: Environment, golden_set: str, model: str, version: int) -> Verdict:
    production = model_server(environment.production)
    with recorder.step(Phase.ROLLBACK, "verify_restored") as step:
        ready = production.ready_versions(model)
        golden = load_golden(golden_set)
        failures, problem = probe(production, golden, environment.bake.smoke_requests, version)
        if ready != [version]:
            verdict = Verdict(outcome=Outcome.FAIL, reason=f"READY versions {ready}, expected [{version}]")
        elif failures:
            verdict = Verdict(outcome=Outcome.FAIL, reason=f"{failures} smoke requests failed: {problem}")
        else:
            verdict = assess_golden(golden, observe_golden(production, golden))
        step.detail = str(verdict)
        if not verdict.passed:
            step.fail(str(verdict))
        get_run_logger().info("restored %s v%s: %s", model, version, verdict)
        return verdict

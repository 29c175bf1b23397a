"""Rollback step: serve the previous version again (warm when it is still loaded: milliseconds)."""

import time

from prefect import get_run_logger, task

from changeflow.adapters.factory import model_server
from changeflow.domain.record import Phase
from changeflow.environment import Environment
from changeflow.recorder import Recorder
from tasks._common import STEP


@task(name="restore-version", **STEP)
def restore_version(recorder: Recorder, environment: Environment, model: str, version: int) -> float:
    """Returns how long production took to serve ``version`` again, in milliseconds."""
    production = model_server(environment.production)
    with recorder.step(Phase.ROLLBACK, "restore_version") as step:
        warm = version in production.ready_versions(model)
        started = time.perf_counter()
        production.load_versions(model, [version])
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        step.detail = f"{model} v{version} serving again ({'warm' if warm else 'cold'} restore, {elapsed_ms:.1f} ms)"
        get_run_logger().warning(step.detail)
        return elapsed_ms

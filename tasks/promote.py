"""Promote (warm standby): production loads [old, new]; unversioned traffic moves to new, old stays warm."""

from prefect import get_run_logger, task

from changeflow.adapters.factory import model_server
from changeflow.domain.record import Phase
from changeflow.environment import Environment
from changeflow.recorder import Recorder
from tasks._common import STEP


@task(name="promote", **STEP)
def promote(recorder: Recorder, environment: Environment, model: str, old: int, new: int) -> None:
    production = model_server(environment.production)
    with recorder.step(Phase.EXECUTION, "promote") as step:
        recorder.note(production_touched=True)  # from here on, a failure must restore production
        production.load_versions(model, [old, new])
        step.detail = f"{model} serving [{old}, {new}] on {environment.production.name}; v{new} takes unversioned traffic"
        get_run_logger().info(step.detail)

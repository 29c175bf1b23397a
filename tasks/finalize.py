"""Finalize: unload the old version from production once the new one has baked."""

from prefect import get_run_logger, task

from changeflow.adapters.factory import model_server
from changeflow.domain.record import Phase
from changeflow.environment import Environment
from changeflow.recorder import Recorder
from tasks._common import STEP


@task(name="finalize", **STEP)
def finalize(recorder: Recorder, environment: Environment, model: str, new: int) -> None:
    with recorder.step(Phase.VERIFICATION, "finalize") as step:
        model_server(environment.production).load_versions(model, [new])
        step.detail = f"{model} serving [{new}] only; previous version unloaded"
        get_run_logger().info(step.detail)

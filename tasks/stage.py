"""Stage: load the candidate version on the staging server (production's config) and wait for READY."""

from prefect import get_run_logger, task

from changeflow.adapters.factory import model_server
from changeflow.domain.record import Phase
from changeflow.environment import Environment
from changeflow.recorder import Recorder
from tasks._common import STEP


@task(name="stage", **STEP)
def stage(recorder: Recorder, environment: Environment, model: str, version: int) -> None:
    with recorder.step(Phase.EXECUTION, "stage") as step:
        base = model_server(environment.production).model_config(model)
        model_server(environment.staging).load_versions(model, [version], base_config=base)
        step.detail = f"{model} v{version} READY on {environment.staging.name}"
        get_run_logger().info(step.detail)

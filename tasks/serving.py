"""Check which version of a model production serves (the highest READY one answers unversioned requests)."""

from prefect import get_run_logger, task

from changeflow.adapters.factory import model_server
from changeflow.domain.record import Phase
from changeflow.environment import Environment
from changeflow.exceptions import ChangeflowError, ModelNotReady
from changeflow.recorder import Recorder
from tasks._common import STEP


class ServingMismatch(ChangeflowError):
    """Production does not serve the version the request was written against."""


@task(name="check-serving-version", **STEP)
def check_serving_version(recorder: Recorder, environment: Environment, model: str, expected: int | None) -> int:
    """The version production serves now; refuses when the request expected another one."""
    with recorder.step(Phase.EXECUTION, "check_serving_version") as step:
        versions = model_server(environment.production).ready_versions(model)
        if not versions:
            raise ModelNotReady(f"{environment.production.name}: {model} has no READY version; nothing to change from")
        serving = max(versions)
        if expected is not None and expected != serving:
            raise ServingMismatch(f"production serves {model} v{serving}, the request expects v{expected}; refile with from_version: {serving}")
        recorder.note(serving_version_before=serving)
        step.detail = f"production serves {model} {versions}; v{serving} answers unversioned requests"
        get_run_logger().info(step.detail)
        return serving

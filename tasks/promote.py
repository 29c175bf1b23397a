"""Promote: production loads [old, new] (warm standby: unversioned traffic moves to new, old stays warm),
or [new] alone when going back to a lower version number (see ``domain.versions``)."""

from prefect import get_run_logger, task

from changeflow.adapters.factory import model_server
from changeflow.domain.record import Phase
from changeflow.domain.versions import promotion_versions, standby_possible
from changeflow.environment import Environment
from changeflow.recorder import Recorder
from tasks._common import STEP


@task(name="promote", **STEP)
def promote(recorder: Recorder, environment: Environment, model: str, old: int, new: int) -> None:
    production = model_server(environment.production)
    with recorder.step(Phase.EXECUTION, "promote") as step:
        recorder.note(production_touched=True)  # from here on, a failure must restore production
        versions = promotion_versions(old, new)
        production.load_versions(model, versions)
        standby = f"v{old} stays warm" if standby_possible(old, new) else f"no warm standby (v{new} < v{old}): a rollback reloads v{old}"
        step.detail = f"{model} serving {versions} on {environment.production.name}; v{new} takes unversioned traffic; {standby}"
        get_run_logger().info(step.detail)

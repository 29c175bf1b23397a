"""Blue-green steps: green beside blue, switch the Service only to ready pods, retire or switch back.

Tracks are told apart by the ``changeflow.io/track`` label on each Deployment's pods and selector.
"""

from __future__ import annotations

import copy
import json
import time

from changeflow.tasks._options import STEP
from prefect import get_run_logger, task

from changeflow.bootstrap import Services
from changeflow.domain.record import Phase
from changeflow.domain.rollout import with_image
from changeflow.exceptions import ClusterError
from changeflow.kinds import blue_green
from changeflow.services.recorder import Recorder

TRACK = "changeflow.io/track"
SELECTOR = "service-selector.before"


def green_body(blue: dict, green: str, container: str, image: str) -> dict:
    """Green's Deployment: blue's spec with green's track label and the new image."""
    if TRACK not in (blue["spec"]["selector"].get("matchLabels") or {}):
        raise ClusterError(
            f"deployment/{blue['metadata']['name']}'s selector has no '{TRACK}' label; fix: label blue's pods and selector with it"
        )
    spec = copy.deepcopy(blue["spec"])
    spec["selector"]["matchLabels"][TRACK] = green
    spec["template"] = with_image(spec["template"], container, image)
    spec["template"].setdefault("metadata", {}).setdefault("labels", {})[TRACK] = green
    meta = {
        "name": green,
        "namespace": blue["metadata"]["namespace"],
        "labels": {**(blue["metadata"].get("labels") or {}), TRACK: green},
    }
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


@task(name="deploy-green", **STEP)
def deploy_green(
    run: Recorder, services: Services, namespace: str, blue: str, green: str, container: str, image: str
) -> int:
    """Create or update green; returns its generation before the change (0 when created), for ``wait_rollout``."""
    api = services.cluster()
    with run.step(Phase.EXECUTION, blue_green.DEPLOY_GREEN) as step:
        body = green_body(api.read_deployment(namespace, blue), green, container, image)
        try:
            existing = api.read_deployment(namespace, green)
        except ClusterError:
            existing = None
        if existing is None:
            api.create_deployment(namespace, body)
            step.detail = f"deployment/{green} created beside {blue} with {image}"
        else:
            api.patch_deployment(
                namespace,
                green,
                {"spec": {"template": body["spec"]["template"], "replicas": body["spec"].get("replicas", 1)}},
            )
            step.detail = f"deployment/{green} updated beside {blue} with {image}"
        get_run_logger().info(step.detail)
        return (existing or {}).get("metadata", {}).get("generation") or 0


def _ready(api, namespace: str, name: str) -> int:
    return (api.read_deployment(namespace, name).get("status") or {}).get("availableReplicas") or 0


def _point_service(
    run: Recorder, services: Services, namespace: str, service: str, target: str, phase: Phase, step_name: str
) -> str:
    api = services.cluster()
    with run.step(phase, step_name) as step:
        ready = _ready(api, namespace, target)
        if ready < 1:  # never leave the Service selecting no ready pods
            raise ClusterError(f"deployment/{target} has no available pods; service/{service} stays where it is")
        selector = api.read_deployment(namespace, target)["spec"]["selector"]["matchLabels"]
        run.attach(SELECTOR, lambda: json.dumps(api.read_service(namespace, service)["spec"].get("selector") or {}))
        if phase is Phase.EXECUTION:
            run.touching_production()
        api.patch_service(namespace, service, {"spec": {"selector": selector}})
        step.detail = f"service/{service} → {target} ({ready} available pods), selector {selector}"
        get_run_logger().info("%s; letting endpoints settle %.0fs", step.detail, services.environment.cluster.settle_s)
        time.sleep(services.environment.cluster.settle_s)  # endpoints follow a selector change asynchronously
        return step.detail


@task(name="switch-service", **STEP)
def switch_service(run: Recorder, services: Services, namespace: str, service: str, green: str) -> str:
    return _point_service(run, services, namespace, service, green, Phase.EXECUTION, blue_green.SWITCH_SERVICE)


@task(name="switch-back", **STEP)
def switch_back(run: Recorder, services: Services, namespace: str, service: str, blue: str) -> str:
    return _point_service(run, services, namespace, service, blue, Phase.ROLLBACK, blue_green.SWITCH_BACK)


def _scale_to_zero(
    run: Recorder, services: Services, namespace: str, name: str, phase: Phase, step_name: str, why: str
) -> None:
    with run.step(phase, step_name) as step:
        services.cluster().patch_deployment(namespace, name, {"spec": {"replicas": 0}})
        step.detail = f"deployment/{name} scaled to zero{why}"
        get_run_logger().info(step.detail)


@task(name="retire-blue", **STEP)
def retire_blue(run: Recorder, services: Services, namespace: str, blue: str) -> None:
    _scale_to_zero(run, services, namespace, blue, Phase.VERIFICATION, blue_green.RETIRE_BLUE, "")


@task(name="retire-green", **STEP)
def retire_green(run: Recorder, services: Services, namespace: str, green: str) -> None:
    """After an abort before the switch: green never served, so it is scaled to zero rather than left running."""
    _scale_to_zero(
        run,
        services,
        namespace,
        green,
        Phase.EXECUTION,
        blue_green.RETIRE_GREEN,
        ": the change stopped before the switch",
    )

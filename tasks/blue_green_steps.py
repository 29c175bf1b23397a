"""Blue-green steps: green beside blue, switch the Service only to ready pods, retire or switch back.

Tracks are told apart by the ``changeflow.io/track`` label on each Deployment's pods and selector.
"""

from __future__ import annotations

import copy
import json
import time

from prefect import get_run_logger, task

from changeflow.adapters.factory import model_server
from changeflow.domain.record import Phase
from changeflow.domain.rollout import with_image
from changeflow.domain.verdict import Outcome, Verdict
from changeflow.environment import Environment
from changeflow.exceptions import ChangeflowError
from changeflow.monitoring import probe
from changeflow.probes import load_golden
from changeflow.recorder import Recorder
from tasks._common import STEP
from tasks.kubernetes_steps import cluster

TRACK = "changeflow.io/track"
SELECTOR = "service-selector.before"


def green_body(blue: dict, green: str, container: str, image: str) -> dict:
    """Green's Deployment: blue's spec with green's track label and the new image."""
    if TRACK not in (blue["spec"]["selector"].get("matchLabels") or {}):
        raise ChangeflowError(f"deployment/{blue['metadata']['name']}'s selector has no '{TRACK}' label; fix: label blue's pods and selector with it")
    spec = copy.deepcopy(blue["spec"])
    spec["selector"]["matchLabels"][TRACK] = green
    spec["template"] = with_image(spec["template"], container, image)
    spec["template"].setdefault("metadata", {}).setdefault("labels", {})[TRACK] = green
    meta = {"name": green, "namespace": blue["metadata"]["namespace"], "labels": {**(blue["metadata"].get("labels") or {}), TRACK: green}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


@task(name="deploy-green", **STEP)
def deploy_green(recorder: Recorder, environment: Environment, namespace: str, blue: str, green: str, container: str, image: str) -> int:
    """Create or update green; returns its generation before the change (0 when created), for ``wait_rollout``."""
    api = cluster(environment)
    with recorder.step(Phase.EXECUTION, "deploy_green") as step:
        body = green_body(api.read_deployment(namespace, blue), green, container, image)
        try:
            existing = api.read_deployment(namespace, green)
        except ChangeflowError:
            existing = None
        if existing is None:
            api.create_deployment(namespace, body)
            step.detail = f"deployment/{green} created beside {blue} with {image}"
        else:
            api.patch_deployment(namespace, green, {"spec": {"template": body["spec"]["template"], "replicas": body["spec"].get("replicas", 1)}})
            step.detail = f"deployment/{green} updated beside {blue} with {image}"
        get_run_logger().info(step.detail)
        return (existing or {}).get("metadata", {}).get("generation") or 0


def _ready(api, namespace: str, name: str) -> int:
    return (api.read_deployment(namespace, name).get("status") or {}).get("availableReplicas") or 0


def _point_service(recorder: Recorder, environment: Environment, namespace: str, service: str, target: str, phase: Phase, step_name: str) -> str:
    api = cluster(environment)
    with recorder.step(phase, step_name) as step:
        ready = _ready(api, namespace, target)
        if ready < 1:  # never leave the Service selecting no ready pods
            raise ChangeflowError(f"deployment/{target} has no available pods; service/{service} stays where it is")
        selector = api.read_deployment(namespace, target)["spec"]["selector"]["matchLabels"]
        if SELECTOR not in recorder.record.attachments:
            before = api.read_service(namespace, service)["spec"].get("selector") or {}
            recorder.note(attachments={**recorder.record.attachments, SELECTOR: json.dumps(before)})
        if phase is Phase.EXECUTION:
            recorder.note(production_touched=True)
        api.patch_service(namespace, service, {"spec": {"selector": selector}})
        step.detail = f"service/{service} → {target} ({ready} available pods), selector {selector}"
        get_run_logger().info("%s; letting endpoints settle %.0fs", step.detail, environment.cluster.settle_s)
        time.sleep(environment.cluster.settle_s)  # endpoints follow a selector change asynchronously
        return step.detail


@task(name="switch-service", **STEP)
def switch_service(recorder: Recorder, environment: Environment, namespace: str, service: str, green: str) -> str:
    return _point_service(recorder, environment, namespace, service, green, Phase.EXECUTION, "switch_service")


@task(name="switch-back", **STEP)
def switch_back(recorder: Recorder, environment: Environment, namespace: str, service: str, blue: str) -> str:
    return _point_service(recorder, environment, namespace, service, blue, Phase.ROLLBACK, "switch_back")


@task(name="bake-service", cache_policy=STEP["cache_policy"])
def bake_service(recorder: Recorder, environment: Environment, golden_set: str, seconds: float) -> Verdict:
    """Golden probes through the Service every interval while blue stays up; the first failure ends it."""
    production, golden = model_server(environment.production), load_golden(golden_set)
    with recorder.step(Phase.VERIFICATION, "bake") as step:
        end, rounds = time.monotonic() + seconds, 0
        while True:
            failures, problem = probe(production, golden, environment.bake.probes_per_sample, None, offset=rounds)
            rounds += 1
            if failures:
                verdict = Verdict(outcome=Outcome.FAIL, reason=f"{failures} of {environment.bake.probes_per_sample} probes failed in round {rounds}: {problem}")
                step.fail(str(verdict))
                return verdict
            if time.monotonic() >= end:
                break
            time.sleep(environment.bake.interval_s)
        verdict = Verdict(outcome=Outcome.PASS, reason=f"{rounds} probe rounds through the Service passed")
        step.detail = str(verdict)
        return verdict


@task(name="retire-blue", **STEP)
def retire_blue(recorder: Recorder, environment: Environment, namespace: str, blue: str) -> None:
    with recorder.step(Phase.VERIFICATION, "retire_blue") as step:
        cluster(environment).patch_deployment(namespace, blue, {"spec": {"replicas": 0}})
        step.detail = f"deployment/{blue} scaled to zero"
        get_run_logger().info(step.detail)

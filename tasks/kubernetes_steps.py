"""Triton upgrade steps on Kubernetes: record the pod template, patch the image, wait like
``kubectl rollout status``, and undo like ``kubectl rollout undo``."""

from __future__ import annotations

import json
import time

from prefect import get_run_logger, task

from changeflow.adapters.kubernetes import ClusterError, KubernetesCluster
from changeflow.domain.record import Phase
from changeflow.domain.rollout import RolloutStatus, image_of, revision_of, rollout_status, undo_template, with_image
from changeflow.environment import Environment
from changeflow.exceptions import ChangeflowError
from changeflow.recorder import Recorder
from tasks._common import STEP

TEMPLATE = "pod-template.before"


def cluster(environment: Environment) -> KubernetesCluster:
    if environment.cluster is None:
        raise ChangeflowError("no Kubernetes cluster configured; fix: set `cluster` in the site (kubeconfig, context or host)")
    return KubernetesCluster(environment.cluster)


@task(name="record-template", **STEP)
def record_template(recorder: Recorder, environment: Environment, namespace: str, name: str, container: str) -> str:
    """Keep the current pod template on the record (once: a re-run keeps the true original)."""
    with recorder.step(Phase.EXECUTION, "record_template") as step:
        deployment = cluster(environment).read_deployment(namespace, name)
        if TEMPLATE not in recorder.record.attachments:
            before = {"revision": revision_of(deployment), "template": deployment["spec"]["template"]}
            recorder.note(attachments={**recorder.record.attachments, TEMPLATE: json.dumps(before)})
        image = image_of(deployment["spec"]["template"], container)
        if image is None:
            raise ChangeflowError(f"deployment/{name} has no container '{container}'; fix: set change.container")
        step.detail = f"deployment/{name} revision {revision_of(deployment)}, {container} image {image}"
        get_run_logger().info(step.detail)
        return image


@task(name="patch-image", **STEP)
def patch_image(recorder: Recorder, environment: Environment, namespace: str, name: str, container: str, image: str, args: list[str] | None) -> int:
    """Returns the Deployment's generation before the patch, for ``wait_rollout``."""
    api = cluster(environment)
    with recorder.step(Phase.EXECUTION, "patch_image") as step:
        current = api.read_deployment(namespace, name)
        template = with_image(current["spec"]["template"], container, image, args)
        recorder.note(production_touched=True)
        api.patch_deployment(namespace, name, {"spec": {"template": template}})
        step.detail = f"deployment/{name} container {container} → {image}"
        get_run_logger().info(step.detail)
        return current["metadata"].get("generation") or 0


def _wait(environment: Environment, namespace: str, name: str, deadline_s: float, changed_at_generation: int) -> RolloutStatus:
    api, logger = cluster(environment), get_run_logger()
    deadline, last = time.monotonic() + deadline_s, None
    while True:
        status = rollout_status(api.read_deployment(namespace, name), changed_at_generation)
        if status.message != last:
            logger.info("rollout: %s", status.message)
            last = status.message
        if status.done or status.failed:
            return status
        if time.monotonic() >= deadline:
            return RolloutStatus(done=False, failed=True, message=f"{status.message} after the {deadline_s:.0f}s deadline")
        time.sleep(environment.cluster.poll_s)


@task(name="wait-rollout", **STEP)
def wait_rollout(
    recorder: Recorder, environment: Environment, namespace: str, name: str, deadline_s: float, changed_at_generation: int = 0, phase: Phase = Phase.EXECUTION
) -> RolloutStatus:
    """Wait like ``kubectl rollout status`` for the rollout of a change made at ``changed_at_generation``."""
    with recorder.step(phase, f"wait_rollout_{name}" if phase is Phase.EXECUTION else "wait_rollout") as step:
        status = _wait(environment, namespace, name, deadline_s, changed_at_generation)
        step.detail = status.message
        if not status.done:
            step.fail(status.message)
        return status


@task(name="rollout-undo", **STEP)
def rollout_undo(recorder: Recorder, environment: Environment, namespace: str, name: str) -> tuple[str, int]:
    """Restore the previous ReplicaSet's template, as ``kubectl rollout undo`` does; falls back to the
    template recorded before the change when no older ReplicaSet is found."""
    api = cluster(environment)
    with recorder.step(Phase.ROLLBACK, "rollout_undo") as step:
        deployment = api.read_deployment(namespace, name)
        selector = deployment["spec"]["selector"].get("matchLabels") or {}
        found = undo_template(deployment, api.list_replica_sets(namespace, selector))
        if found is not None:
            revision, template = found
            source = f"ReplicaSet revision {revision}"
        elif TEMPLATE in recorder.record.attachments:
            template, source = json.loads(recorder.record.attachments[TEMPLATE])["template"], "the template recorded before the change"
        else:
            raise ClusterError(f"deployment/{name}: no previous revision to roll back to")
        api.patch_deployment(namespace, name, {"spec": {"template": template}})
        step.detail = f"deployment/{name} template restored from {source}"
        get_run_logger().warning(step.detail)
        return step.detail, deployment["metadata"].get("generation") or 0

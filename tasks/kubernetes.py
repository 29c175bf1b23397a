"""Kubernetes steps of the Triton upgrade (and the rollout wait blue-green shares): record the pod template, patch the image, wait like
``kubectl rollout status``, and undo like ``kubectl rollout undo``."""

from __future__ import annotations

import json
import time

from changeflow.tasks._options import STEP
from prefect import get_run_logger, task

from changeflow.bootstrap import Services
from changeflow.domain.record import Phase
from changeflow.domain.request import WAIT_ROLLOUT
from changeflow.domain.rollout import RolloutStatus, image_of, revision_of, rollout_status, undo_template, with_image
from changeflow.exceptions import ClusterError
from changeflow.kinds import triton_upgrade
from changeflow.services.recorder import Recorder

TEMPLATE = "pod-template.before"


@task(name="record-template", **STEP)
def record_template(run: Recorder, services: Services, namespace: str, name: str, container: str) -> str:
    """Keep the current pod template on the record (once: a re-run keeps the true original)."""
    with run.step(Phase.EXECUTION, triton_upgrade.RECORD_TEMPLATE) as step:
        deployment = services.cluster().read_deployment(namespace, name)
        run.attach(
            TEMPLATE,
            lambda: json.dumps({"revision": revision_of(deployment), "template": deployment["spec"]["template"]}),
        )
        image = image_of(deployment["spec"]["template"], container)
        if image is None:
            raise ClusterError(f"deployment/{name} has no container '{container}'; fix: set change.container")
        step.detail = f"deployment/{name} revision {revision_of(deployment)}, {container} image {image}"
        get_run_logger().info(step.detail)
        return image


@task(name="patch-image", **STEP)
def patch_image(
    run: Recorder, services: Services, namespace: str, name: str, container: str, image: str, args: list[str] | None
) -> int:
    """Returns the Deployment's generation before the patch, for ``wait_rollout``."""
    api = services.cluster()
    with run.step(Phase.EXECUTION, triton_upgrade.PATCH_IMAGE) as step:
        current = api.read_deployment(namespace, name)
        template = with_image(current["spec"]["template"], container, image, args)
        run.touching_production()
        api.patch_deployment(namespace, name, {"spec": {"template": template}})
        step.detail = f"deployment/{name} container {container} → {image}"
        get_run_logger().info(step.detail)
        return current["metadata"].get("generation") or 0


def _wait(
    services: Services, namespace: str, name: str, deadline_s: float, changed_at_generation: int
) -> RolloutStatus:
    api, logger = services.cluster(), get_run_logger()
    deadline, last = time.monotonic() + deadline_s, None
    while True:
        status = rollout_status(api.read_deployment(namespace, name), changed_at_generation)
        if status.message != last:
            logger.info("rollout: %s", status.message)
            last = status.message
        if status.done or status.failed:
            return status
        if time.monotonic() >= deadline:
            return RolloutStatus(
                done=False, failed=True, message=f"{status.message} after the {deadline_s:.0f}s deadline"
            )
        time.sleep(services.environment.cluster.poll_s)


@task(name="wait-rollout", **STEP)
def wait_rollout(
    run: Recorder,
    services: Services,
    namespace: str,
    name: str,
    deadline_s: float,
    changed_at_generation: int = 0,
    phase: Phase = Phase.EXECUTION,
) -> RolloutStatus:
    """Wait like ``kubectl rollout status`` for the rollout of a change made at ``changed_at_generation``;
    the step's detail names the Deployment (its name is the one plans list)."""
    with run.step(phase, WAIT_ROLLOUT) as step:
        status = _wait(services, namespace, name, deadline_s, changed_at_generation)
        step.detail = status.message if name in status.message else f"deployment {name}: {status.message}"
        if not status.done:
            step.fail(step.detail)
        return status


@task(name="rollout-undo", **STEP)
def rollout_undo(run: Recorder, services: Services, namespace: str, name: str) -> tuple[str, int]:
    """Restore the previous ReplicaSet's template, as ``kubectl rollout undo`` does; falls back to the
    template recorded before the change when no older ReplicaSet is found."""
    api = services.cluster()
    with run.step(Phase.ROLLBACK, triton_upgrade.ROLLOUT_UNDO) as step:
        deployment = api.read_deployment(namespace, name)
        selector = deployment["spec"]["selector"].get("matchLabels") or {}
        found = undo_template(deployment, api.list_replica_sets(namespace, selector))
        if found is not None:
            revision, template = found
            source = f"ReplicaSet revision {revision}"
        elif TEMPLATE in run.record.attachments:
            template, source = (
                json.loads(run.record.attachments[TEMPLATE])["template"],
                "the template recorded before the change",
            )
        else:
            raise ClusterError(f"deployment/{name}: no previous revision to roll back to")
        api.patch_deployment(namespace, name, {"spec": {"template": template}})
        step.detail = f"deployment/{name} template restored from {source}"
        get_run_logger().warning(step.detail)
        return step.detail, deployment["metadata"].get("generation") or 0

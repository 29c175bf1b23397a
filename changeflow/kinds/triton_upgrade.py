"""Triton upgrade on Kubernetes: patch the Deployment's image, wait for the rollout like ``kubectl rollout
status``; rollback restores the previous ReplicaSet's pod template like ``kubectl rollout undo``."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from changeflow.domain.drift import Target
from changeflow.domain.request import (
    IMAGE,
    SMOKE_TEST,
    WAIT_ROLLOUT,
    ChangeRequest,
    ChangeSpec,
    K8sName,
    KindPlan,
    Seconds,
    Text,
    steps,
)
from changeflow.domain.rollout import rollout_status
from changeflow.exceptions import ChangeflowError
from changeflow.kinds import ChangeKind, LiveSystem

FLOW_NAME = "triton-upgrade"  # the @flow name of flows/triton_upgrade.py: recovery watches its runs by it

# Its steps: the plan lists them, tasks/kubernetes.py records them (with WAIT_ROLLOUT and SMOKE_TEST)
RECORD_TEMPLATE = "record_template"
PATCH_IMAGE = "patch_image"
ROLLOUT_UNDO = "rollout_undo"


class TritonUpgrade(ChangeSpec):
    """Roll a Kubernetes Deployment of Triton to a new image; undo restores the previous template."""

    model_config = ConfigDict(title="Upgrade Triton (Kubernetes)")

    kind: Literal["triton_upgrade"] = "triton_upgrade"
    namespace: K8sName
    deployment: K8sName
    container: K8sName = "triton"
    image: str = Field(pattern=IMAGE, description="container image, e.g. nvcr.io/nvidia/tritonserver:24.10-py3")
    args: list[Text] | None = Field(
        None, max_length=100, title="Arguments", description="Optional: the container's new arguments"
    )
    progress_deadline_seconds: Seconds = Field(
        600, ge=1, le=7_200, title="Rollout deadline (seconds)", description="How long the rollout may take"
    )
    golden_set: Text = Field(
        min_length=1,
        max_length=4096,
        title="Golden set",
        description="For the smoke test through the serving endpoint; a relative path is read in the governance folder, e.g. golden/MODEL.json",
    )


def deployment_available(services: LiveSystem, namespace: str, name: str) -> tuple[bool, str]:
    """Checklist fact for the Kubernetes kinds: the Deployment a rollback returns to is rolled out."""
    try:
        status = rollout_status(services.cluster().read_deployment(namespace, name))
    except ChangeflowError as exc:
        return False, str(exc)
    return status.done, f"deployment/{name} (what a rollback returns to): {status.message}"


class TritonUpgradeKind(ChangeKind):
    spec = TritonUpgrade
    risk_points = 3
    flow_name = FLOW_NAME

    def plan(self, model: str, c: TritonUpgrade) -> KindPlan:
        target = f"deployment/{c.deployment} (namespace {c.namespace})"
        return KindPlan(
            touches=(f"kubernetes: {target}",),
            execution=steps(
                (RECORD_TEMPLATE, f"record the current pod template of {target}"),
                (PATCH_IMAGE, f"set container {c.container} image to {c.image}"),
                (
                    WAIT_ROLLOUT,
                    f"wait for the rollout like `kubectl rollout status` (deadline {c.progress_deadline_seconds}s)",
                ),
            ),
            verification=steps(
                (SMOKE_TEST, f"live requests on {model} through the serving endpoint"),
            ),
            rollback=steps(
                (ROLLOUT_UNDO, f"restore the previous ReplicaSet's pod template on {target} (`kubectl rollout undo`)"),
                (WAIT_ROLLOUT, "wait for the undo to roll out"),
                (SMOKE_TEST, f"smoke test on {model}"),
            ),
        )

    def previous_state(self, services: LiveSystem, request: ChangeRequest) -> tuple[bool | None, str]:
        return deployment_available(services, request.change.namespace, request.change.deployment)

    def drift_targets(self, services: LiveSystem, request: ChangeRequest) -> list[Target]:
        c = request.change
        return [Target(kind="deployment", where=c.namespace, name=c.deployment, model=request.model)]


KIND = TritonUpgradeKind()

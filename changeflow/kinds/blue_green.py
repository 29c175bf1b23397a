"""Blue-green on Kubernetes: green beside blue, validate green through its own endpoint, switch the
Service selector (only to ready pods), bake with blue still up, retire blue; rollback switches back."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from changeflow.domain.comparison import BakeRule, Verification
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
from changeflow.kinds import ChangeKind, LiveSystem
from changeflow.kinds.triton_upgrade import deployment_available

FLOW_NAME = "blue-green"  # the @flow name of flows/blue_green.py: recovery watches its runs by it

# Its steps: the plan lists them, tasks/blue_green.py records them (with WAIT_ROLLOUT and SMOKE_TEST)
DEPLOY_GREEN = "deploy_green"
VALIDATE_GREEN = "validate_green"
RETIRE_GREEN = "retire_green"
SWITCH_SERVICE = "switch_service"
BAKE = "bake"
RETIRE_BLUE = "retire_blue"
SWITCH_BACK = "switch_back"


class BlueGreen(ChangeSpec):
    """Start green beside blue, validate green, switch the Service selector, retire blue after a bake."""

    model_config = ConfigDict(title="Blue-green (Kubernetes)")

    kind: Literal["blue_green"] = "blue_green"
    namespace: K8sName
    service: K8sName
    blue: K8sName = Field(description="the Deployment serving now")
    green: K8sName = Field(description="the Deployment to create or update")
    image: str = Field(pattern=IMAGE, description="container image, e.g. nvcr.io/nvidia/tritonserver:24.10-py3")
    container: K8sName = "triton"
    golden_set: Text = Field(
        min_length=1,
        max_length=4096,
        title="Golden set",
        description="Validates green through its own endpoint; a relative path is read in the governance folder, e.g. golden/MODEL.json",
    )
    bake_seconds: Seconds = Field(
        60, ge=1, le=86_400, title="Bake (seconds)", description="How long green is watched after the switch"
    )
    progress_deadline_seconds: Seconds = Field(
        600, ge=1, le=7_200, title="Rollout deadline (seconds)", description="How long green may take to roll out"
    )

    @model_validator(mode="after")
    def _distinct(self) -> BlueGreen:
        if self.blue == self.green:
            raise ValueError("green must name a different Deployment than blue")
        return self


class BlueGreenKind(ChangeKind):
    spec = BlueGreen
    risk_points = 2
    flow_name = FLOW_NAME

    def plan(self, model: str, c: BlueGreen) -> KindPlan:
        ns = f"(namespace {c.namespace})"
        return KindPlan(
            touches=(
                f"kubernetes: deployment/{c.green} {ns}",
                f"kubernetes: service/{c.service} {ns}",
                f"kubernetes: deployment/{c.blue} {ns}",
            ),
            execution=steps(
                (DEPLOY_GREEN, f"create or update deployment/{c.green} with image {c.image} beside {c.blue}"),
                (
                    WAIT_ROLLOUT,
                    f"wait until deployment/{c.green} is rolled out and available (deadline {c.progress_deadline_seconds}s)",
                ),
                (
                    VALIDATE_GREEN,
                    f"golden set through {c.green}'s own endpoint (the staging server); failure leaves service/{c.service} on {c.blue}",
                ),
                (
                    RETIRE_GREEN,
                    f"only when the change stops before the switch: scale deployment/{c.green}, which never served, to zero",
                ),
                (SWITCH_SERVICE, f"point service/{c.service} at {c.green}, only to available pods"),
            ),
            verification=steps(
                (SMOKE_TEST, f"live requests through service/{c.service}"),
                (
                    BAKE,
                    f"golden probes through service/{c.service} for {c.bake_seconds}s while {c.green} serves and {c.blue} keeps running",
                ),
                (RETIRE_BLUE, f"scale deployment/{c.blue} to zero"),
            ),
            rollback=steps(
                (SWITCH_BACK, f"point service/{c.service} back at {c.blue}"),
                (SMOKE_TEST, "smoke test through the Service"),
            ),
        )

    def bake_rule(self, verification: Verification, c: BlueGreen) -> BakeRule:
        """Governance's blue-green thresholds on the probes alone: a Service in front, no version to compare with."""
        return verification.bake_rule(verification.blue_green_thresholds, None)

    def previous_state(self, services: LiveSystem, request: ChangeRequest) -> tuple[bool | None, str]:
        return deployment_available(services, request.change.namespace, request.change.blue)

    def drift_targets(self, services: LiveSystem, request: ChangeRequest) -> list[Target]:
        """The Service (which Deployment serves) and green, the Deployment it serves once closed."""
        c = request.change
        return [
            Target(kind="service", where=c.namespace, name=c.service, model=request.model),
            Target(kind="deployment", where=c.namespace, name=c.green, model=request.model),
        ]


KIND = BlueGreenKind()

"""Blue-green on Kubernetes: green beside blue, validate green through its own endpoint, switch the
Service selector (only to ready pods), bake with blue still up, retire blue; rollback switches back."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from changeflow.domain.comparison import BakeRule, Verification
from changeflow.domain.drift import Target
from changeflow.domain.request import IMAGE, ChangeRequest, ChangeSpec, K8sName, KindPlan, Seconds, Text, steps
from changeflow.kinds import ChangeKind, LiveSystem
from changeflow.kinds.triton_upgrade import deployment_available

FLOW_NAME = "blue-green"  # the @flow name of flows/blue_green.py: recovery watches its runs by it


class BlueGreen(ChangeSpec):
    """Start green beside blue, validate green, switch the Service selector, retire blue after a bake."""

    kind: Literal["blue_green"] = "blue_green"
    namespace: K8sName
    service: K8sName
    blue: K8sName = Field(description="the Deployment serving now")
    green: K8sName = Field(description="the Deployment to create or update")
    image: str = Field(pattern=IMAGE, description="container image, e.g. nvcr.io/nvidia/tritonserver:24.10-py3")
    container: K8sName = "triton"
    golden_set: Text = Field(min_length=1, max_length=4096, description="golden set that validates green through its own endpoint")
    bake_seconds: Seconds = Field(60, ge=1, le=86_400)
    progress_deadline_seconds: Seconds = Field(600, ge=1, le=7_200)

    @model_validator(mode="after")
    def _distinct(self) -> "BlueGreen":
        if self.blue == self.green:
            raise ValueError("green must name a different Deployment than blue")
        return self


class BlueGreenKind(ChangeKind):
    spec = BlueGreen
    risk_points = 2
    flow = "changeflow.flows.blue_green:blue_green"
    flow_name = FLOW_NAME
    restore = "changeflow.flows.blue_green:restore"

    def plan(self, model: str, c: BlueGreen) -> KindPlan:
        ns = f"(namespace {c.namespace})"
        return KindPlan(
            touches=(f"kubernetes: deployment/{c.green} {ns}", f"kubernetes: service/{c.service} {ns}", f"kubernetes: deployment/{c.blue} {ns}"),
            execution=steps(
                ("deploy_green", f"create or update deployment/{c.green} with image {c.image} beside {c.blue}"),
                ("wait_green", f"wait until {c.green} is available"),
                ("validate_green", f"golden set and smoke test through {c.green}'s own endpoint; failure leaves the Service on {c.blue} and scales {c.green} to zero"),
                ("switch_service", f"point service/{c.service} at {c.green}"),
            ),
            verification=steps(
                ("smoke_test", f"live requests through service/{c.service}"),
                ("bake", f"keep {c.blue} running for {c.bake_seconds}s while {c.green} serves"),
                ("retire_blue", f"scale deployment/{c.blue} to zero"),
            ),
            rollback=steps(("switch_back", f"point service/{c.service} back at {c.blue}"), ("smoke_test", "smoke test through the Service")),
        )

    def bake_rule(self, verification: Verification, c: BlueGreen) -> BakeRule:
        """Governance's blue-green thresholds on the probes alone: a Service in front, no version to compare with."""
        return verification.bake_rule(verification.blue_green_thresholds, None)

    def previous_state(self, services: LiveSystem, request: ChangeRequest) -> tuple[bool | None, str]:
        return deployment_available(services, request.change.namespace, request.change.blue)

    def drift_targets(self, services: LiveSystem, request: ChangeRequest) -> list[Target]:
        """The Service (which Deployment serves) and green, the Deployment it serves once closed."""
        c = request.change
        return [Target(kind="service", where=c.namespace, name=c.service, model=request.model),
                Target(kind="deployment", where=c.namespace, name=c.green, model=request.model)]


KIND = BlueGreenKind()

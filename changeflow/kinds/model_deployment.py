"""Model deployment: a new version of a model on Triton, with warm standby.

stage → validate (abort on failure, production untouched) → promote with ``version_policy specific
[old, new]`` → smoke test → bake → finalize; rollback reloads ``[old]`` (warm while it is loaded).
Triton answers unversioned requests with the highest READY version, so warm standby only routes traffic
to ``new`` when ``new > old``; going back to a lower version number serves ``new`` alone (cold rollback).
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from changeflow.domain.comparison import BakeRule, ComparisonThresholds, Verification
from changeflow.domain.drift import Target
from changeflow.domain.request import (
    MONITOR,
    SMOKE_TEST,
    VERIFY_RESTORED,
    ChangeRequest,
    ChangeSpec,
    ChangeType,
    KindPlan,
    Seconds,
    Text,
    Version,
    steps,
)
from changeflow.domain.waves import EVERYWHERE, wave_sizes
from changeflow.exceptions import ChangeflowError
from changeflow.kinds import ChangeKind, LiveSystem, production_model

FLOW_NAME = "model-deployment"  # the @flow name of flows/model_deployment.py: recovery watches its runs by it

# Its steps: the plan lists them, tasks/model_deployment.py records them (with SMOKE_TEST, MONITOR, VERIFY_RESTORED)
CHECK_SERVING_VERSION = "check_serving_version"
STAGE = "stage"
VALIDATE = "validate"
PROMOTE = "promote"
WIDEN = "widen"
FINALIZE = "finalize"
RESTORE_VERSION = "restore_version"


class ModelDeployment(ChangeSpec):
    """Serve a new version of a model: stage, validate, promote (warm standby), smoke, bake, close."""

    model_config = ConfigDict(title="Deploy a model version")

    kind: Literal["model_deployment"] = "model_deployment"
    to_version: Version = Field(title="New version", description="The version folder to serve, e.g. 2")
    from_version: Version | None = Field(
        None, title="Serving version", description="Optional: the version serving now (read from production if empty)"
    )
    golden_set: Text = Field(
        min_length=1,
        max_length=4096,
        title="Golden set",
        description="Requests and the answers they must get; a relative path is read in the governance folder, e.g. golden/MODEL.json",
    )
    bake_seconds: Seconds = Field(
        60, ge=1, le=86_400, title="Bake (seconds)", description="How long production is watched after promotion"
    )
    max_output_disagreement: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        strict=True,
        title="Output disagreement allowed",
        description="Optional: share of bake probes whose outputs may differ from the old version's (a retrained model); only tighter than governance's",
    )

    @model_validator(mode="after")
    def _versions_differ(self) -> ModelDeployment:
        if self.from_version is not None and self.from_version == self.to_version:
            raise ValueError("to_version equals from_version: nothing would change")
        return self


def comparison_for(governed: ComparisonThresholds, spec: ModelDeployment) -> ComparisonThresholds:
    """Governance's comparison thresholds, with the request's own disagreement budget when it sets one. A
    request may only tighten the bundle's budget, never loosen it: the rules that judge a change are not the
    requester's to choose."""
    if spec.max_output_disagreement is None:
        return governed
    budget = spec.max_output_disagreement
    if governed.max_disagreement is not None:
        budget = min(budget, governed.max_disagreement)
    return governed.model_copy(update={"max_disagreement": budget})


def standby_possible(old: int, new: int) -> bool:
    return new > old


def promotion_versions(old: int, new: int) -> list[int]:
    """The version policy production loads at promotion."""
    return [old, new] if standby_possible(old, new) else [new]


class ModelDeploymentKind(ChangeKind):
    spec = ModelDeployment
    loads_models_on = ("production", "staging")
    risk_points = 2
    writes_repository = True
    flow_name = FLOW_NAME
    shown_first = True

    def plan(self, model: str, c: ModelDeployment) -> KindPlan:
        old = f"v{c.from_version}" if c.from_version else "the serving version"
        new = f"v{c.to_version}"
        check = (
            f"read which version of {model} production serves (what a rollback returns to); stop, nothing touched, "
            + (f"unless it is {old}" if c.from_version else f"if it already is {new}")
        )
        if c.from_version and not standby_possible(c.from_version, c.to_version):
            promote = f"load {model} on production with version_policy specific [{new}]: going back to a lower version leaves no warm standby"
            restore = f"reload {model} on production with version_policy specific [{old}] (cold load)"
        else:
            promote = f"load {model} on production with version_policy specific [{old}, {new}]; {old} stays warm"
            restore = f"reload {model} on production with version_policy specific [{old}] (warm while it is loaded)"
        return KindPlan(
            touches=(f"triton/production: model {model}", f"triton/staging: model {model}"),
            execution=steps(
                (CHECK_SERVING_VERSION, check),
                (STAGE, f"load {model} {new} on the staging server and wait until READY"),
                (
                    VALIDATE,
                    f"golden set {c.golden_set} on staging: outputs within tolerance, output schema, latency budget; failure aborts with production untouched",
                ),
                (PROMOTE, promote),
            ),
            verification=steps(
                (SMOKE_TEST, f"live requests on production answered by {new}"),
                (
                    MONITOR,
                    f"bake {c.bake_seconds}s: Triton metrics and golden probes, verdict PASS / FAIL / INCONCLUSIVE / ERROR"
                    "; on a fleet promoted in waves (governance's waves for this change type), each wave is baked",
                ),
                (
                    WIDEN,
                    f"on a fleet promoted in waves, after a wave's bake passed: the next replicas load {model} like the promote "
                    "did, and are baked; a FAIL in any wave restores every replica",
                ),
                (FINALIZE, f"unload {old} from production"),
            ),
            rollback=steps(
                (RESTORE_VERSION, restore),
                (VERIFY_RESTORED, f"{old} READY, smoke test and golden set on production"),
            ),
        )

    def bake_rule(self, verification: Verification, c: ModelDeployment) -> BakeRule:
        """Governance's thresholds, and (where the old version stays loaded) the comparison with it."""
        return verification.bake_rule(verification.thresholds, comparison_for(verification.comparison, c))

    def waves(self, verification: Verification, change_type: ChangeType) -> tuple[int | str, ...]:
        return verification.waves.get(change_type, EVERYWHERE)

    def wave_sizes(self, verification: Verification, change_type: ChangeType, replicas: int) -> list[int]:
        """How many replicas each wave of the promotion reaches: governance's waves for the change type."""
        return wave_sizes(self.waves(verification, change_type), replicas)

    def size_risk(self, c: ModelDeployment) -> tuple[int, str] | None:
        if c.from_version and abs(c.to_version - c.from_version) > 1:
            return 1, f"skips versions (v{c.from_version} → v{c.to_version})"
        return None

    def serving_version(self, services: LiveSystem, request: ChangeRequest) -> int | None:
        try:
            ready = services.production.ready_versions(request.model)
        except ChangeflowError:
            return None
        return max(ready) if ready else None

    def nothing_to_do(self, services: LiveSystem, request: ChangeRequest) -> tuple[str, str] | None:
        if self.serving_version(services, request) == request.change.to_version:
            return (
                "change.to_version",
                f"production already serves {request.model} v{request.change.to_version}: there is nothing to deploy",
            )
        return None

    def previous_state(self, services: LiveSystem, request: ChangeRequest) -> tuple[bool | None, str]:
        try:
            ready = services.production.ready_versions(request.model)
        except ChangeflowError as exc:
            return False, str(exc)
        want = request.change.from_version or (max(ready) if ready else None)
        if want is not None and want in ready:
            return True, f"{request.model} v{want} READY on {services.production.name} (READY: {ready})"
        return False, f"{request.model} v{want} not READY on production (READY: {ready})"

    def drift_targets(self, services: LiveSystem, request: ChangeRequest) -> list[Target]:
        return production_model(services, request)


KIND = ModelDeploymentKind()

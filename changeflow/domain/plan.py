"""The plan of a change: the steps it will run, what it must verify, how it is undone, who approves.

Computed from the request and the type policy alone, so ``changeflow submit --dry-run`` can print it
without touching any server.
"""

from __future__ import annotations

from pydantic import BaseModel

from changeflow.domain.policy import ApprovalPool, WindowClass, policy_for
from changeflow.domain.request import BlueGreen, ChangeRequest, ConfigChange, ModelDeployment, TritonUpgrade
from changeflow.domain.types import ChangeKind, ChangeType, Risk
from changeflow.domain.versions import standby_possible


class PlannedStep(BaseModel, frozen=True):
    name: str
    action: str


class ChangePlan(BaseModel, frozen=True):
    change_id: str
    type: ChangeType
    kind: ChangeKind
    model: str
    risk: Risk
    approval_pool: ApprovalPool
    approvals_required: int
    windows: tuple[WindowClass, ...]
    post_implementation_review: bool
    touches: tuple[str, ...]
    execution_steps: tuple[PlannedStep, ...]
    verification_steps: tuple[PlannedStep, ...]
    rollback_steps: tuple[PlannedStep, ...]
    rollback_plan: str
    warnings: tuple[str, ...] = ()


def _steps(*pairs: tuple[str, str]) -> tuple[PlannedStep, ...]:
    return tuple(PlannedStep(name=n, action=a) for n, a in pairs)


def _model_deployment(model: str, c: ModelDeployment) -> tuple:
    old = f"v{c.from_version}" if c.from_version else "the serving version"
    new = f"v{c.to_version}"
    if c.from_version and not standby_possible(c.from_version, c.to_version):
        promote = f"load {model} on production with version_policy specific [{new}]: going back to a lower version leaves no warm standby"
        restore = f"reload {model} on production with version_policy specific [{old}] (cold load)"
    else:
        promote = f"load {model} on production with version_policy specific [{old}, {new}]; {old} stays warm"
        restore = f"reload {model} on production with version_policy specific [{old}] (warm while it is loaded)"
    return (
        (f"triton/production: model {model}", f"triton/staging: model {model}"),
        _steps(
            ("stage", f"load {model} {new} on the staging server and wait until READY"),
            ("validate", f"golden set {c.golden_set} on staging: outputs within tolerance, output schema, latency budget; failure aborts with production untouched"),
            ("promote", promote),
        ),
        _steps(
            ("smoke_test", f"live requests on production answered by {new}"),
            ("monitor", f"bake {c.bake_seconds}s: Triton metrics and golden probes, verdict PASS / FAIL / INCONCLUSIVE / ERROR"),
            ("finalize", f"unload {old} from production"),
        ),
        _steps(
            ("restore_version", restore),
            ("verify_restored", f"{old} READY, smoke test and golden set on production"),
        ),
    )


def _config_change(model: str, c: ConfigChange) -> tuple:
    fields = ", ".join(f"{k}={v!r}" for k, v in c.set.items())
    return (
        (f"model repository: {model}/config.pbtxt", f"triton/production: model {model}"),
        _steps(
            ("backup_config", f"keep the exact bytes of {model}/config.pbtxt"),
            ("apply_config", f"set {fields} in {model}/config.pbtxt"),
            ("reload", f"reload {model} on production and wait until READY"),
        ),
        _steps(("smoke_test", f"live requests on {model}"), ("verify_config", "the served config shows the new values")),
        _steps(
            ("restore_config", f"write back the previous {model}/config.pbtxt byte for byte"),
            ("reload", f"reload {model} and wait until READY"),
            ("verify_restored", "served config equals the previous one; smoke test"),
        ),
    )


def _triton_upgrade(model: str, c: TritonUpgrade) -> tuple:
    target = f"deployment/{c.deployment} (namespace {c.namespace})"
    return (
        (f"kubernetes: {target}",),
        _steps(
            ("record_template", f"record the current pod template of {target}"),
            ("patch_image", f"set container {c.container} image to {c.image}"),
            ("wait_rollout", f"wait for the rollout like `kubectl rollout status` (deadline {c.progress_deadline_seconds}s)"),
        ),
        _steps(("smoke_test", f"live requests on {model} through the serving endpoint"),),
        _steps(
            ("rollout_undo", f"restore the previous ReplicaSet's pod template on {target} (`kubectl rollout undo`)"),
            ("wait_rollout", "wait for the undo to roll out"),
            ("verify_restored", f"smoke test on {model}"),
        ),
    )


def _blue_green(model: str, c: BlueGreen) -> tuple:
    ns = f"(namespace {c.namespace})"
    return (
        (f"kubernetes: deployment/{c.green} {ns}", f"kubernetes: service/{c.service} {ns}", f"kubernetes: deployment/{c.blue} {ns}"),
        _steps(
            ("deploy_green", f"create or update deployment/{c.green} with image {c.image} beside {c.blue}"),
            ("wait_green", f"wait until {c.green} is available"),
            ("validate_green", f"golden set and smoke test through {c.green}'s own endpoint; failure leaves the Service on {c.blue}"),
            ("switch_service", f"point service/{c.service} at {c.green}"),
        ),
        _steps(
            ("smoke_test", f"live requests through service/{c.service}"),
            ("bake", f"keep {c.blue} running for {c.bake_seconds}s while {c.green} serves"),
            ("retire_blue", f"scale deployment/{c.blue} to zero"),
        ),
        _steps(("switch_back", f"point service/{c.service} back at {c.blue}"), ("verify_restored", "smoke test through the Service")),
    )


_BUILDERS = {
    ChangeKind.MODEL_DEPLOYMENT: _model_deployment,
    ChangeKind.CONFIG_CHANGE: _config_change,
    ChangeKind.TRITON_UPGRADE: _triton_upgrade,
    ChangeKind.BLUE_GREEN: _blue_green,
}


def plan_change(request: ChangeRequest, risk: Risk | None = None, warnings: tuple[str, ...] = ()) -> ChangePlan:
    """The plan for ``request``; ``risk`` defaults to the type's baseline until assessment raises it."""
    policy = policy_for(request.type)
    risk = risk or policy.baseline_risk
    touches, execution, verification, rollback = _BUILDERS[request.kind](request.model, request.change)
    return ChangePlan(
        change_id=request.id,
        type=request.type,
        kind=request.kind,
        model=request.model,
        risk=risk,
        approval_pool=policy.approval_pool,
        approvals_required=policy.approvals_for(risk),
        windows=policy.windows,
        post_implementation_review=policy.post_implementation_review,
        touches=touches,
        execution_steps=execution,
        verification_steps=verification,
        rollback_steps=rollback,
        rollback_plan=request.rollback_plan,
        warnings=warnings,
    )

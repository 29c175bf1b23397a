"""Risk assessment: a score from what the change is, how much traffic it touches, its size, the
model's recent failures and the window; each point has a reason. Never below the type's baseline."""

from __future__ import annotations

from pydantic import BaseModel

from changeflow.domain.policy import WindowClass, policy_for
from changeflow.domain.request import ChangeRequest, ConfigChange, ModelDeployment
from changeflow.domain.types import ChangeKind, Risk

KIND_POINTS = {ChangeKind.CONFIG_CHANGE: 1, ChangeKind.MODEL_DEPLOYMENT: 2, ChangeKind.BLUE_GREEN: 2, ChangeKind.TRITON_UPGRADE: 3}


class RiskInputs(BaseModel, frozen=True):
    requests_per_s: float = 0.0
    recent_failed_changes: int = 0
    window: WindowClass | None = None


class RiskAssessment(BaseModel, frozen=True):
    risk: Risk
    score: int
    reasons: tuple[str, ...]


def _size_points(request: ChangeRequest) -> tuple[int, str | None]:
    change = request.change
    if isinstance(change, ModelDeployment) and change.from_version and abs(change.to_version - change.from_version) > 1:
        return 1, f"skips versions (v{change.from_version} → v{change.to_version})"
    if isinstance(change, ConfigChange) and len(change.set) > 3:
        return 1, f"{len(change.set)} config fields at once"
    return 0, None


def assess_risk(request: ChangeRequest, inputs: RiskInputs) -> RiskAssessment:
    points: list[tuple[int, str]] = [(KIND_POINTS[request.kind], request.kind.value.replace("_", " "))]
    if inputs.requests_per_s >= 1000:
        points.append((2, f"live traffic {inputs.requests_per_s:.0f} req/s >= 1000"))
    elif inputs.requests_per_s >= 50:
        points.append((1, f"live traffic {inputs.requests_per_s:.0f} req/s >= 50"))
    else:
        points.append((0, f"live traffic {inputs.requests_per_s:.1f} req/s"))
    size, why = _size_points(request)
    if why:
        points.append((size, why))
    if inputs.recent_failed_changes:
        points.append((min(2, inputs.recent_failed_changes), f"{inputs.recent_failed_changes} recent failed change(s) to {request.model}"))
    if inputs.window is WindowClass.BUSINESS_HOURS and request.kind is not ChangeKind.CONFIG_CHANGE:
        points.append((1, "runs during business hours (peak traffic)"))
    score = sum(p for p, _ in points)
    reasons = [f"{why}: +{p}" for p, why in points]
    computed = Risk.LOW if score <= 2 else Risk.MEDIUM if score <= 4 else Risk.HIGH
    baseline = policy_for(request.type).baseline_risk
    risk = max(computed, baseline, key=lambda r: r.rank)
    raised = f", raised to the {request.type.value} baseline {baseline.value}" if risk is not computed else ""
    reasons.append(f"score {score} → {computed.value}{raised}")
    return RiskAssessment(risk=risk, score=score, reasons=tuple(reasons))

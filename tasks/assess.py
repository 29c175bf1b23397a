"""Assess: score the change's risk from its kind, live traffic, size, recent failures and window."""

from datetime import datetime, timedelta

from prefect import get_run_logger, task

from changeflow.adapters.factory import model_server
from changeflow.domain.policy import WindowClass
from changeflow.domain.record import ChangeRecord
from changeflow.domain.request import ChangeRequest
from changeflow.domain.risk import RiskAssessment, RiskInputs, assess_risk
from changeflow.domain.types import State
from changeflow.environment import Environment
from changeflow.exceptions import ServerError
from changeflow.monitoring import request_rate
from changeflow.recorder import Recorder
from tasks._common import STEP

FAILED = {State.ROLLED_BACK, State.ABORTED}
LOOKBACK = timedelta(days=30)


@task(name="assess", **STEP)
def assess(
    recorder: Recorder, environment: Environment, request: ChangeRequest, window: WindowClass, now: datetime, history: list[ChangeRecord]
) -> RiskAssessment:
    """``history``: the other changes on record (read once by the flow, which also checks conflicts with them)."""
    logger = get_run_logger()
    try:
        rate = request_rate(model_server(environment.production), request.model, window_s=0.5)
    except ServerError as exc:
        logger.warning("live traffic unknown (%s); assessed as none", exc)
        rate = 0.0
    failures = sum(
        1 for r in history if r.model == request.model and r.state in FAILED and r.transitions and now - r.transitions[-1].at <= LOOKBACK
    )
    assessment = assess_risk(request, RiskInputs(requests_per_s=rate, recent_failed_changes=failures, window=window))
    recorder.note(risk=assessment.risk, risk_reasons=list(assessment.reasons))
    logger.info("risk %s (score %d): %s", assessment.risk.value, assessment.score, "; ".join(assessment.reasons))
    return assessment

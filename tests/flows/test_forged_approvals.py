"""Forgery attempts straight through the Prefect API (``resume_flow_run`` with a hand-made input, not
changeflow's client): none counts, each is on the record with why, and the change never executes."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from changeflow import State
from changeflow.adapters.credentials import current_code, sign
from changeflow.bootstrap import record_store
from changeflow.domain.identity import PLAN_DIGEST, decision_message
from changeflow.flows.lifecycle import normal_change
from changeflow.settings.defaults import approver_keys_dir, approver_secrets
from changeflow.settings.loader import load_change_request, load_governance
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.triton
NIGHT = datetime(2026, 11, 25, 22, 0, tzinfo=timezone(timedelta(hours=1)))
LEFT_OUT = object()  # a field the forged input does not send at all


def forge(change_id: str, store, attempts: list, errors: list) -> None:
    """Each attempt gets the run's next pause, as anyone with API access could send it."""
    from prefect.flow_runs import resume_flow_run

    from changeflow.adapters.prefect_approvals import wait_for_pause

    try:
        for attempt in attempts:
            run_id = wait_for_pause(change_id, timeout_s=60)
            digest = store.load(change_id).attachments[PLAN_DIGEST]
            sent = {"approve": True, "comment": "", "code": "", "signature": "", "plan_digest": digest, **attempt(digest)}
            resume_flow_run(run_id, run_input={k: v for k, v in sent.items() if v is not LEFT_OUT})
            time.sleep(1.5)  # the flow judges it and pauses again
    except Exception as exc:  # reported by the test
        errors.append(exc)


def test_forged_decisions_are_refused_recorded_and_nothing_executes(environment, production):
    request = load_change_request(EXAMPLES / "changes" / "normal-deploy-v2.yaml").model_copy(update={"id": "CHG-0077"})
    store = record_store(environment.records)
    secrets = yaml.safe_load(approver_secrets().read_text())
    keys = approver_keys_dir()
    used = {}

    def carol_code(_):
        used["code"] = current_code(secrets["carol"])
        return {"approver": "carol", "code": used["code"]}

    attempts = [
        lambda d: {"approver": "carol"},                                                  # a listed approver, no proof
        lambda d: {"approver": "carol", "code": "000000" if current_code(secrets["carol"]) != "000000" else "111111"},  # a wrong code
        lambda d: {"approver": "dave", "code": current_code(secrets["carol"])},           # carol's code, dave's name
        lambda d: {"approver": "dave", "signature": sign(keys / "dave.pem", decision_message("CHG-0078", True, d, "dave"))},  # another change
        lambda d: {"approver": "dave", "signature": sign(keys / "dave.pem", decision_message("CHG-0077", True, "e" * 64, "dave")), "plan_digest": "e" * 64},  # an edited plan
        lambda d: {"approver": "alice", "code": current_code(secrets["alice"])},          # the requester
        lambda d: {"approver": "mallory", "code": current_code(secrets["mallory"])},      # not on the list
        carol_code,                                                                       # valid: counts (1 of 2)
        lambda d: {"approver": "CAROL", "code": used["code"]},                            # the same code again, and the same person
        lambda d: {"approver": "Ｃａｒｏｌ", "code": current_code(secrets["carol"], time.time() + 30)},  # a look-alike of carol
        lambda d: {"approver": "frank", "code": used["code"]},                            # carol's used code as frank
        lambda d: {"approver": "frank", "code": current_code(secrets["frank"]), "approve": LEFT_OUT},  # no decision at all: malformed
    ]
    governance = load_governance(EXAMPLES, approval_timeout_s=45, approval_poll_s=1)
    errors: list = []
    forger = threading.Thread(target=forge, args=("CHG-0077", store, attempts, errors), daemon=True)
    forger.start()
    result = normal_change(request, environment, governance, NIGHT)
    forger.join(timeout=30)
    assert not errors, errors
    assert result.state is State.EXPIRED, result.outcome  # one valid approval of two: never executed
    record = store.load("CHG-0077")
    assert not record.execution_steps and production.ready_versions("classifier") == [1]
    decisions = [(a.approver, a.counted) for a in record.approvals]
    assert decisions == [("carol", False), ("carol", False), ("dave", False), ("dave", False), ("dave", False), ("alice", False),
                         ("mallory", False), ("carol", True), ("carol", False), ("carol", False), ("frank", False), ("frank", False)], decisions
    reasons = [a.refusal for a in record.approvals]
    assert "no proof of identity" in reasons[0] and "not carol's current code" in reasons[1] and "not dave's current code" in reasons[2]
    assert "not dave's over this change" in reasons[3] and "another plan" in reasons[4] and "cannot approve" in reasons[5]
    assert "not on the change advisory board list" in reasons[6] and "already approved" in reasons[8] and "already approved" in reasons[9]
    assert "already used" in reasons[10] or "not frank's current code" in reasons[10]
    assert reasons[11] == "frank: the decision has no `approve` field, so it is malformed; send approve: true or false"
    assert record.approvals[7].proof == "totp" and all(a.proof == "" for a in record.approvals if not a.counted)

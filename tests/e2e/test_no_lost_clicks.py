"""No lost clicks (#27): 20 change requests submitted and 40 decisions sent (20 approvals, 20 rejections)
through Prefect's API to `changeflow serve` as a user runs it, while its housekeeping runs (the drift
check every 10 s, the safety net every minute). Each submission becomes a run, each decision is on its
record, and each change ends rejected; CI once lost a click to Prefect's SQLite server under such runs.
Decisions are signed (a one-time code counts once per approver per 30 s)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.e2e.serving import serving_as_a_user, wait_until_ended

pytestmark = [pytest.mark.triton, pytest.mark.prefect, pytest.mark.slow]
CHANGES, AT_ONCE = 20, 5  # submitted in batches: each run is a process on two cores


def request(change_id: str) -> dict:
    return {
        "id": change_id,
        "type": "normal",
        "description": "Deploy classifier v2; one of twenty sent while the housekeeping runs.",
        "requester": "alice",
        "model": "classifier",
        "change": {"kind": "model_deployment", "to_version": 2, "golden_set": "golden/classifier.json"},
        "rollback_plan": "Reload classifier v1, which stays warm through the bake.",
        "communication": {"announced_in": "#inference-changes", "on_call_ack": "olivia"},
    }


def test_twenty_submissions_and_forty_decisions_under_the_housekeeping_runs_are_all_kept(tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterStartTime,
    )
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    from changeflow.adapters.credentials import signed_proof
    from changeflow.adapters.prefect_approvals import submit_decision
    from changeflow.adapters.sql_records import SqlRecordStore
    from changeflow.settings.defaults import approver_keys_dir

    store = SqlRecordStore(f"sqlite:///{tmp_path / '.changeflow' / 'records.db'}")
    ids = [f"CHG-{800 + i:04d}" for i in range(CHANGES)]
    with serving_as_a_user(tmp_path, "--drift-every=10") as served:
        settings = {PREFECT_API_URL: served.api, PREFECT_API_AUTH_STRING: served.auth}
        with temporary_settings(updates=settings), get_client(sync_client=True) as client:
            began = datetime.now(timezone.utc)
            deployment = client.read_deployment_by_name("normal-change/normal")
            runs = {}
            for batch in range(0, CHANGES, AT_ONCE):
                for change_id in ids[batch : batch + AT_ONCE]:
                    runs[change_id] = client.create_flow_run_from_deployment(
                        deployment.id, parameters={"request": request(change_id)}
                    ).id
                for change_id in ids[batch : batch + AT_ONCE]:
                    for who, approve in (("carol", True), ("dave", False)):
                        submit_decision(
                            change_id,
                            who,
                            approve,
                            f"{who}: {'approve' if approve else 'reject'} under load",
                            wait_s=240,
                            proof=lambda c=change_id, w=who, a=approve: signed_proof(
                                store, approver_keys_dir(), c, w, a
                            ),
                        )
            ended = {change_id: wait_until_ended(lambda: store, change_id, served.log) for change_id in ids}
            states = {change_id: client.read_flow_run(run_id).state for change_id, run_id in runs.items()}
            housekeeping = {
                name: client.read_flow_runs(
                    deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[name])),
                    flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=began)),
                )
                for name in ("drift-check", "safety-net")
            }
        took = (datetime.now(timezone.utc) - began).total_seconds()

    for change_id, record in ended.items():
        assert record.state.value == "rejected", (change_id, record.outcome)
        assert [(a.approver, a.decision, a.counted) for a in record.approvals] == [
            ("carol", "approve", True),
            ("dave", "reject", True),
        ], (change_id, record.approvals)
        assert states[change_id].name == "Rejected", (change_id, states[change_id])
    ran = {
        name: sum(1 for run in found if run.state and run.state.is_completed()) for name, found in housekeeping.items()
    }
    print(
        f"{CHANGES} submissions and {2 * CHANGES} decisions in {took:.0f} s; housekeeping runs completed meanwhile: {ran}"
    )
    assert ran["drift-check"] >= 3, ran  # the clicks went in while the housekeeping ran

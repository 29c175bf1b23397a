"""Unauthorized changes on a real production Triton (and a Kubernetes API on loopback): a version loaded
by hand, a config edited and reloaded by hand, an image set by hand; each is one unauthorized record with
its diff, and with ``revert`` production is put back and verified. Governed changes are never drift."""

from __future__ import annotations

import json
import threading
import time

import httpx
import numpy as np
import pytest
from changeflow.flows.drift import drift_check

from changeflow import State
from changeflow.adapters.triton import config_to_json, with_versions
from changeflow.bootstrap import config_store, record_store
from changeflow.domain.drift import DriftAction, DriftPolicy, Step
from changeflow.domain.history import RecordQuery
from changeflow.domain.model_config import parse_config
from changeflow.domain.record import Unrequested
from changeflow.services.records import every
from changeflow.settings.governance import Governance, IncidentEvents
from tests.flows.test_kubernetes_changes import blue_green_cluster, image_of, kube, request, selector, upgrade_cluster  # noqa: F401 (fixtures)

pytestmark = pytest.mark.triton
CLASSIFIER = "triton_model:production/classifier"
ONES = np.ones((1, 4), dtype=np.float32)


def by_hand(environment, model: str, config) -> None:
    """A load straight through Triton's repository API, as `curl` would send it: changeflow is not asked."""
    body = {"parameters": {"config": config_to_json(config)}}
    response = httpx.post(f"{environment.production.http_url}/v2/repository/models/{model}/load", json=body, timeout=60)
    assert response.status_code == 200, response.text


def unauthorized(environment) -> list:
    return [r for r in every(record_store(environment.records), RecordQuery()) if r.type is Unrequested.UNAUTHORIZED]


def test_a_version_loaded_by_hand_is_one_unauthorized_record(environment, production):
    from changeflow.local.event_sink import EventSink

    with EventSink() as sink:
        governance = Governance(incident_events=IncidentEvents(url=sink.url))
        first = drift_check(environment, governance)
        assert not first.unauthorized and first.baselines, first
        assert {c.target: c.step for c in first.checks}[CLASSIFIER] is Step.ADOPT_BASELINE
        assert drift_check(environment, governance).clean  # nothing moved: nothing to say

        approved = production.ready_versions("classifier")
        by_hand(environment, "classifier", with_versions(production.model_config("classifier"), [*approved, 2]))
        report = drift_check(environment, governance)
        assert len(report.unauthorized) == 1, report
        record = record_store(environment.records).load(report.unauthorized[0])
        assert record.state is State.DETECTED and record.model == "classifier"
        assert [(c.fact, c.approved, c.seen) for c in record.drift.changes] == [
            ("ready_versions", json.dumps(approved), json.dumps([*approved, 2]))
        ]
        assert record.drift.approved_by == first.checks[[c.target for c in first.checks].index(CLASSIFIER)].record_id

        for _ in range(2):  # one record per drift, not one per check
            again = drift_check(environment, governance)
            assert again.unauthorized == [] and again.still_open == [record.id]
        assert len(unauthorized(environment)) == 1
        deadline = time.monotonic() + 10
        while not sink.events and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [e["payload"]["custom_details"]["change_id"] for e in sink.events] == [record.id]
        assert "unauthorized change detected" in sink.events[0]["payload"]["summary"]

        by_hand(
            environment, "classifier", with_versions(production.model_config("classifier"), approved)
        )  # put back by hand
        back = drift_check(environment, governance)
        assert back.clean and record_store(environment.records).load(record.id).state is State.CLOSED


def test_a_config_edited_and_reloaded_by_hand_shows_the_field(environment, production):
    governance = Governance()
    drift_check(environment, governance)
    store = config_store(environment.production)
    text = store.read_config_text("feature_scaler")
    edited = text.replace("max_queue_delay_microseconds: 100", "max_queue_delay_microseconds: 7777")
    assert edited != text, "the sample config holds the field this test edits"
    store.write_config_text("feature_scaler", edited)
    by_hand(
        environment, "feature_scaler", with_versions(parse_config(edited), production.ready_versions("feature_scaler"))
    )
    report = drift_check(environment, governance)
    assert len(report.unauthorized) == 1, report
    record = record_store(environment.records).load(report.unauthorized[0])
    assert [c.fact for c in record.drift.changes] == ["config_sha256"]
    assert any("max_queue_delay_microseconds" in line and "7777" in line for line in record.drift.details), (
        record.drift.details
    )


def test_revert_puts_the_approved_version_and_config_back_and_verifies_them(environment, production):
    governance = Governance(drift=DriftPolicy(models={"classifier": DriftAction.REVERT}))
    drift_check(environment, governance)
    approved = production.ready_versions("classifier")
    store = config_store(environment.production)
    text = store.read_config_text("classifier")
    edited = text.replace("max_queue_delay_microseconds: 100", "max_queue_delay_microseconds: 4242")
    store.write_config_text("classifier", edited)
    by_hand(environment, "classifier", with_versions(parse_config(edited), [*approved, 2]))
    assert production.infer("classifier", {"INPUT": ONES}).model_version == 2

    report = drift_check(environment, governance)
    assert len(report.reverted) == 1 and not report.needs_attention, report
    assert production.ready_versions("classifier") == approved  # asked of Triton
    assert production.infer("classifier", {"INPUT": ONES}).model_version == max(approved)
    assert (
        "4242" not in str(production.model_config("classifier").dynamic_batching)
        and store.read_config_text("classifier") == text
    )
    record = record_store(environment.records).load(report.reverted[0])
    assert record.state is State.ROLLED_BACK
    assert [s.name for s in record.rollback_steps] == ["restore_approved_state", "verify_restored"]
    assert all(s.outcome.value == "ok" for s in record.rollback_steps)
    assert "smoke inference answered" in record.rollback_steps[-1].detail
    assert {c.fact for c in record.drift.changes} == {"ready_versions", "config_sha256"}
    assert drift_check(environment, governance).clean  # the revert is not itself a drift


def test_an_image_set_by_hand_is_one_unauthorized_record(upgrade_cluster):
    from changeflow.flows.triton_upgrade import triton_upgrade

    cluster, env, production = upgrade_cluster
    result = triton_upgrade(request("triton-upgrade.yaml", image="triton:24.10", progress_deadline_seconds=20), env)
    assert result.state is State.CLOSED, result.outcome
    governance = Governance()
    assert drift_check(env, governance).clean
    cluster.apps.patch_namespaced_deployment(
        "triton",
        "inference",
        {"spec": {"template": {"spec": {"containers": [{"name": "triton", "image": "triton:24.09"}]}}}},
    )
    report = drift_check(env, governance)
    records = {r.drift.target.key: r for r in map(record_store(env.records).load, report.unauthorized)}
    assert sorted(records) == ["deployment:inference/triton", CLASSIFIER], (
        report
    )  # the test's controller serves v1 for 24.09: both seen
    record = records["deployment:inference/triton"]
    assert record.drift.approved_by == result.change_id
    assert [(c.fact, c.approved, c.seen) for c in record.drift.changes] == [
        ("triton.image", "triton:24.10", "triton:24.09")
    ]
    assert [(c.fact, c.approved, c.seen) for c in records[CLASSIFIER].drift.changes] == [
        ("ready_versions", "[2]", "[1]")
    ]
    assert sorted(drift_check(env, governance).still_open) == sorted(r.id for r in records.values())


def test_revert_rolls_an_image_set_by_hand_back(upgrade_cluster):
    """The Deployment is patched back and rolled out; the test's controller then serves v2 again for that
    image, so the model on production is in line and needs no record of its own."""
    from changeflow.flows.triton_upgrade import triton_upgrade

    cluster, env, production = upgrade_cluster
    assert (
        triton_upgrade(request("triton-upgrade.yaml", image="triton:24.10", progress_deadline_seconds=20), env).state
        is State.CLOSED
    )
    governance = Governance(drift=DriftPolicy(models={"classifier": DriftAction.REVERT}))
    drift_check(env, governance)
    cluster.apps.patch_namespaced_deployment(
        "triton",
        "inference",
        {"spec": {"template": {"spec": {"containers": [{"name": "triton", "image": "triton:24.09"}]}}}},
    )
    report = drift_check(env, governance)
    assert len(report.reverted) == 1 and report.reverted == report.unauthorized and not report.needs_attention, report
    assert image_of(cluster, "triton") == "triton:24.10"
    assert production.ready_versions("classifier") == [2]  # asked of Triton: what 24.10 serves
    record = record_store(env.records).load(report.reverted[0])
    assert record.drift.target.key == "deployment:inference/triton" and record.state is State.ROLLED_BACK
    assert "successfully rolled out" in record.rollback_steps[-1].detail
    assert drift_check(env, governance).clean


def test_revert_points_a_service_switched_by_hand_back(blue_green_cluster):
    """After a blue-green change, the Service is pointed back at blue by hand; the revert points it at green
    again. (The test's controller moves production's versions with the Service, so the model may drift and
    be reverted too, depending on which the check reaches first: every record must end reverted.)"""
    from changeflow.flows.blue_green import blue_green

    cluster, env, controller = blue_green_cluster
    assert (
        blue_green(
            request("blue-green.yaml", image="triton:24.10", bake_seconds=2, progress_deadline_seconds=20), env
        ).state
        is State.CLOSED
    )
    governance = Governance(drift=DriftPolicy(models={"classifier": DriftAction.REVERT}))
    drift_check(env, governance)
    cluster.core.patch_namespaced_service(
        "triton", "inference", {"spec": {"selector": {"changeflow.io/track": "triton-blue"}}}
    )
    report = drift_check(env, governance)
    assert report.reverted == report.unauthorized and not report.needs_attention, report
    records = {r.drift.target.key: r for r in map(record_store(env.records).load, report.reverted)}
    assert "service:inference/triton" in records and records["service:inference/triton"].state is State.ROLLED_BACK
    assert [
        (c.fact, json.loads(c.approved)["changeflow.io/track"], json.loads(c.seen)["changeflow.io/track"])
        for c in records["service:inference/triton"].drift.changes
    ] == [("selector", "triton-green", "triton-blue")]
    assert selector(cluster) == "triton-green"
    time.sleep(1.0)  # the controller follows the Service
    assert drift_check(env, governance).clean


def test_governed_changes_are_never_drift(environment, production):
    """Drift checks back to back (0.2 s apart) while changes execute as governed changes do (record in flight, the
    model's lock held: ``execute_scheduled``; their approval is tested with fakes in tests/governed): a config change,
    a deployment that closes, one that is rolled back in its bake, one aborted in validation. Not one unauthorized record."""
    from changeflow.flows.config_change import config_change
    from changeflow.flows.model_deployment import model_deployment

    from changeflow.settings.loader import load_governance
    from tests.flows.helpers import change, execute_as_scheduled

    governance = load_governance(EXAMPLES_DIR, approval_timeout_s=60, approval_poll_s=1)
    drift_check(environment, governance)
    reports, stop = [], threading.Event()

    def keep_checking() -> None:  # as often as it can: how many checks fit depends on the machine, not on the test
        while not stop.is_set():
            reports.append(drift_check(environment, governance))
            time.sleep(0.2)

    checker = threading.Thread(target=keep_checking)
    checker.start()
    try:
        outcomes = [
            execute_as_scheduled(config_change, change("standard-config-tweak.yaml"), environment, governance).state
        ]
        for number, (version, bake) in enumerate([(2, 4), (4, 6), (3, 2)], start=11):
            deploy = change(
                "normal-deploy-v4.yaml",
                id=f"CHG-00{number}",
                type="emergency",
                change={"from_version": None, "to_version": version, "bake_seconds": bake},
            )
            outcomes.append(execute_as_scheduled(model_deployment, deploy, environment, governance).state)
    finally:
        stop.set()
        checker.join(60)
    assert outcomes == [State.CLOSED, State.REVIEW_PENDING, State.ROLLED_BACK, State.ABORTED], outcomes
    skipped = [c for r in reports for c in r.checks if c.step is None]
    assert len(reports) >= len(outcomes) and skipped, (
        f"the checks did not overlap the changes: {len(reports)} checks, none skipped"
    )
    assert unauthorized(environment) == [], [r.unauthorized for r in reports]
    assert drift_check(environment, governance).clean  # the approved state each change left is the one serving


EXAMPLES_DIR = __import__("tests.conftest", fromlist=["EXAMPLES"]).EXAMPLES


def test_the_command_line_shows_unauthorized_changes_apart(environment, production, tmp_path, monkeypatch):
    import yaml
    from typer.testing import CliRunner

    from changeflow.cli import app

    settings = tmp_path / "environment.yaml"
    settings.write_text(yaml.safe_dump(environment.model_dump(mode="json")))
    monkeypatch.setenv("CHANGEFLOW_ENVIRONMENT", str(settings))
    runner = CliRunner()
    first = runner.invoke(app, ["drift", "check", "--environment", str(settings), "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.output.strip().splitlines()[-1])["baselines"]
    by_hand(
        environment,
        "classifier",
        with_versions(production.model_config("classifier"), [*production.ready_versions("classifier"), 2]),
    )
    found = runner.invoke(app, ["drift", "check", "--environment", str(settings)])
    assert found.exit_code == 9, found.output  # an unauthorized change is on record
    drift_id = next(r.id for r in unauthorized(environment))
    listed = runner.invoke(app, ["list"], terminal_width=250)
    assert listed.exit_code == 0 and "unauthorized changes (made outside changeflow)" in listed.output
    assert (
        "DRIFT-" in listed.output.split("unauthorized changes (made outside changeflow)")[1]
    )  # in the table of its own
    assert [r["type"] for r in json.loads(runner.invoke(app, ["list", "--json"]).output) if r["id"] == drift_id] == [
        "unauthorized"
    ]
    shown = runner.invoke(app, ["record", drift_id], terminal_width=250)
    assert "Unauthorized change" in shown.output and "ready_versions" in shown.output
    report = json.loads(runner.invoke(app, ["report", "--json"]).output)
    assert (report["unauthorized"], report["unauthorized_open"], report["changes"]) == (1, 1, 0)
    marked = json.loads(runner.invoke(app, ["calendar", "--json"]).output)
    assert any(row["what"].startswith(f"UNAUTHORIZED change {drift_id}") for row in marked)

"""The governed sequence as plain code over fakes (``flows.governed``): approved → closed, rejected,
expired, refused by the catalog, aborted by the checklist or before production, rolled back after; the
same rules the flows run with, in milliseconds, with no server."""

from __future__ import annotations

from changeflow.flows.compensation import Execution
from changeflow.flows.governed import Governed, Steps, govern
from changeflow.tasks import shared

from changeflow.domain.record import ChangeResult, RollbackResult, State
from changeflow.domain.request import ChangeRequest
from changeflow.domain.verdicts import Outcome, Verdict
from changeflow.services.recorder import Recorder
from changeflow.settings.loader import load_change_request
from tests.conftest import EXAMPLES
from tests.governed.conftest import IN_THE_FREEZE, WEDNESDAY_MORNING, WEDNESDAY_NIGHT, KeptNotices, ScriptedDecisions

PLAIN = Steps(
    *(
        step.fn
        for step in (
            shared.assess,
            shared.check_catalog,
            shared.schedule,
            shared.wait_for_slot,
            shared.run_checklist,
            shared.notify,
        )
    )
)
FAILED = Verdict(outcome=Outcome.FAIL, reason="3 of 10 golden cases differ")


def change(name: str, **updates) -> ChangeRequest:
    data = load_change_request(EXAMPLES / "changes" / name).model_dump(mode="json")
    data["change"].update(updates.pop("change", {}))
    return ChangeRequest.model_validate({**data, **updates})


class KindDouble:
    """The kind's execution, standing in for its flow: the real compensation guard (``Execution``) over
    the fakes, ending as told. ``touched`` lists what it did to production; ``rolled_back`` the rollbacks."""

    def __init__(self, services, ending: str = "close") -> None:
        self.services, self.ending = services, ending
        self.touched: list[str] = []
        self.rolled_back: list[str] = []

    def roll_back(self, change_id: str, why: str) -> RollbackResult:
        recorder = Recorder(self.services.records.load(change_id), self.services.records)
        self.rolled_back.append(why)
        recorder.transition(State.ROLLED_BACK, f"rolled back ({why}); v1 verified")
        return RollbackResult(change_id=change_id, state=State.ROLLED_BACK, restored="v1", verified="pass")

    def __call__(self, request, record, governance) -> ChangeResult:
        with Execution(
            request, self.services, record, request.kind, governance=governance, roll_back=self.roll_back
        ) as run:
            if self.ending == "abort":
                run.require(FAILED, abort="validation failed in staging, production untouched")
            run.recorder.touching_production()
            self.touched.append(request.model)
            run.verifying("promoted")
            if self.ending == "roll back":
                run.require(FAILED)
            run.close("serving the new version")
        return run.result


def governed(services, governance, clock, decisions=None, ending="close") -> tuple[Governed, KindDouble]:
    kind = KindDouble(services, ending)
    services.decisions = decisions
    return Governed(
        services=services, governance=governance, steps=PLAIN, execute=kind, clock=clock, clock_source="test"
    ), kind


def test_a_quorum_of_proven_approvals_then_execution_closes_it(fake_services, governance):
    request = change("normal-self-approval.yaml")
    decisions = ScriptedDecisions(
        [("alice", True), ("mallory", True), ("carol", True), ("carol", True), ("dave", True)], request.id
    )
    run, kind = governed(fake_services, governance, WEDNESDAY_NIGHT, decisions)
    result = govern(request, run)
    assert result.state is State.CLOSED, result.outcome
    record = fake_services.records.load(request.id)
    assert [a.refusal for a in record.approvals if not a.counted] == [
        "alice requested this change and cannot approve it",
        "mallory is not on the change advisory board list (carol, dave, frank)",
        "carol has already approved; each approver counts once",
    ]
    assert [a.approver for a in record.approvals if a.counted] == ["carol", "dave"]
    assert [t.to_state for t in record.transitions] == [
        State.REQUESTED,
        State.ASSESSED,
        State.APPROVED,
        State.SCHEDULED,
        State.EXECUTING,
        State.VERIFYING,
        State.CLOSED,
    ]
    assert "approved by carol, dave (2 required)" in record.transitions[2].reason
    assert "off-hours" in record.transitions[3].reason
    assert kind.touched == [request.model] and fake_services.locks.held == [request.model]
    assert len(fake_services.notices.sent) == 1 and "waits for your approval" in fake_services.notices.sent[0][1]


def test_a_rejection_touches_nothing(fake_services, governance):
    request = change("normal-self-approval.yaml")
    run, kind = governed(fake_services, governance, WEDNESDAY_NIGHT, ScriptedDecisions([("frank", False)], request.id))
    result = govern(request, run)
    assert result.state is State.REJECTED and "rejected by frank" in result.outcome
    record = fake_services.records.load(request.id)
    assert record.execution_steps == [] and not record.production_touched and kind.touched == []


def test_no_decision_in_time_expires_after_an_overdue_notice(fake_services, governance):
    fake_services.notices = KeptNotices(fire_overdue=True)
    request = change("normal-self-approval.yaml", id="CHG-0031")
    run, kind = governed(fake_services, governance, WEDNESDAY_NIGHT, ScriptedDecisions([], request.id))
    result = govern(
        request,
        run.__class__(**{**run.__dict__, "governance": governance.model_copy(update={"approval_timeout_s": 3})}),
    )
    assert result.state is State.EXPIRED and "no valid decision within 3s" in result.outcome
    assert fake_services.notices.overdue_payloads == [{"approvals_required": 2, "pool": "change_advisory_board"}]
    assert [title for _, title in fake_services.notices.sent][-1].startswith("Overdue: change CHG-0031")
    assert kind.touched == []


def test_a_decision_on_another_plan_or_unsigned_is_refused_and_kept(fake_services, governance):
    request = change("normal-self-approval.yaml")
    run, _ = governed(
        fake_services, governance, WEDNESDAY_NIGHT, ScriptedDecisions([("carol", True)], request.id, digest="0" * 64)
    )
    assert govern(request, run).state is State.EXPIRED
    refused = fake_services.records.load(request.id).approvals
    assert len(refused) == 1 and not refused[0].counted and "given on another plan" in refused[0].refusal


def test_the_next_form_opens_with_why_the_last_answer_was_not_counted(fake_services, governance):
    """The UI only says the run resumed: the refusal must be the first thing the next form shows."""
    request = change("normal-self-approval.yaml")
    decisions = ScriptedDecisions([("carol", True)], request.id, digest="0" * 64)
    run, _ = governed(fake_services, governance, WEDNESDAY_NIGHT, decisions)
    govern(request, run)
    first, second = (text for _, text in decisions.asked[:2])
    assert "Not counted" not in first
    assert second.splitlines()[0].startswith("> **Not counted: carol:") and "another plan" in second.splitlines()[0]


def test_a_decision_without_approve_is_malformed(fake_services, governance):
    request = change("normal-self-approval.yaml")
    run, _ = governed(fake_services, governance, WEDNESDAY_NIGHT, ScriptedDecisions([("carol", None)], request.id))
    assert govern(request, run).state is State.EXPIRED
    assert "malformed" in fake_services.records.load(request.id).approvals[0].refusal


def test_a_standard_change_outside_the_catalog_is_refused(fake_services, governance):
    request = change("standard-config-tweak.yaml", change={"set": {"instance_group.0.count": 8}})
    run, kind = governed(fake_services, governance, WEDNESDAY_MORNING)
    result = govern(request, run)
    assert result.state is State.REJECTED
    assert "template 'instance-count': instance_group.0.count=8 must be <= 4" in result.outcome
    assert "file it as a normal change" in result.outcome and kind.touched == []


def test_a_standard_change_in_the_catalog_runs_without_approval(fake_services, governance):
    run, kind = governed(fake_services, governance, WEDNESDAY_MORNING)
    result = govern(change("standard-config-tweak.yaml"), run)
    assert result.state is State.CLOSED, result.outcome
    record = fake_services.records.load("CHG-0001")
    assert (
        record.approvals == []
        and "pre-approved: matches standard template 'batching-delay'" in record.transitions[2].reason
    )


def test_a_freeze_blocks_a_normal_change_but_not_an_emergency(fake_services, governance):
    from datetime import timedelta

    normal = change("normal-self-approval.yaml", window={"deadline": (IN_THE_FREEZE + timedelta(days=3)).isoformat()})
    run, _ = governed(
        fake_services, governance, IN_THE_FREEZE, ScriptedDecisions([("carol", True), ("dave", True)], normal.id)
    )
    result = govern(normal, run)
    assert result.state is State.EXPIRED and "freeze 'year-end' (year-end peak traffic)" in result.outcome
    emergency = change("emergency-hotfix.yaml")
    run, _ = governed(fake_services, governance, IN_THE_FREEZE, ScriptedDecisions([("oscar", True)], emergency.id))
    result = govern(emergency, run)
    assert result.state is State.REVIEW_PENDING, result.outcome
    record = fake_services.records.load(emergency.id)
    assert (
        "emergency change overrides freeze 'year-end'"
        in next(t for t in record.transitions if t.to_state is State.SCHEDULED).reason
    )


def test_a_failed_checklist_item_blocks_execution(fake_services, governance):
    request = change(
        "standard-config-tweak.yaml", communication={"announced_in": "#inference-changes"}
    )  # no on-call ack
    run, kind = governed(fake_services, governance, WEDNESDAY_MORNING)
    result = govern(request, run)
    assert result.state is State.ABORTED and "on-call notified: no acknowledgement" in result.outcome
    assert kind.touched == [] and fake_services.locks.held == []


def test_a_failed_validation_aborts_before_production(fake_services, governance):
    run, kind = governed(fake_services, governance, WEDNESDAY_MORNING, ending="abort")
    result = govern(change("standard-config-tweak.yaml"), run)
    assert result.state is State.ABORTED and "validation failed in staging, production untouched" in result.outcome
    assert kind.touched == [] and kind.rolled_back == []


def test_a_failure_after_production_was_touched_is_rolled_back(fake_services, governance):
    run, kind = governed(fake_services, governance, WEDNESDAY_MORNING, ending="roll back")
    result = govern(change("standard-config-tweak.yaml"), run)
    assert result.state is State.ROLLED_BACK, result.outcome
    assert kind.touched == ["feature_scaler"] and kind.rolled_back == [str(FAILED)]


def test_an_id_already_on_record_is_refused_before_anything_is_assessed(fake_services, governance):
    import pytest

    from changeflow.exceptions import ChangeStateError

    run, _ = governed(fake_services, governance, WEDNESDAY_MORNING)
    govern(change("standard-config-tweak.yaml"), run)
    with pytest.raises(ChangeStateError, match="already exists"):
        govern(change("standard-config-tweak.yaml"), run)


class RolledOut:
    """``Cluster`` as the upgrade's checklist and the drift capture at close read it: the Deployment is rolled out."""

    def read_deployment(self, namespace: str, name: str) -> dict:
        template = {"spec": {"containers": [{"name": "triton", "image": "triton:24.10"}]}}
        return {
            "metadata": {"name": name, "generation": 1},
            "spec": {"replicas": 2, "template": template},
            "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2},
        }


def test_an_upgrade_is_assessed_as_its_kind_and_approved_by_the_board_not_its_requester(fake_services, governance):
    """A Triton upgrade goes through the same governed sequence as a deployment (what ran through Kubernetes
    on loopback in tests/flows/test_kubernetes_changes.py; the rollout itself is tested there, run directly)."""
    fake_services._cluster = RolledOut()
    request = change("triton-upgrade.yaml", change={"image": "triton:24.10", "progress_deadline_seconds": 20})
    decisions = ScriptedDecisions([("carol", True), ("dave", True), ("frank", True)], request.id)  # carol requested it
    run, kind = governed(fake_services, governance, WEDNESDAY_NIGHT, decisions)
    result = govern(request, run)
    assert result.state is State.CLOSED, result.outcome
    record = fake_services.records.load(request.id)
    assert (
        record.risk.value == "medium" and "triton upgrade: +3" in record.risk_reasons
    )  # kind +3, quiet traffic: quorum 2
    assert [t.to_state for t in record.transitions][:4] == [
        State.REQUESTED,
        State.ASSESSED,
        State.APPROVED,
        State.SCHEDULED,
    ]
    assert [a.refusal for a in record.approvals if not a.counted] == [
        "carol requested this change and cannot approve it"
    ]
    assert [a.approver for a in record.approvals if a.counted] == ["dave", "frank"]
    assert kind.touched == ["classifier"]


def test_approvers_are_told_at_the_governance_urls_when_a_change_waits_and_when_it_is_overdue(
    fake_services, governance
):
    """The gate tells the governance's ``notify_approvers``, naming the requester, linking the waiting run
    and saying how to approve (the Apprise delivery itself: tests/flows/test_approver_notifications.py)."""
    fake_services.notices = KeptNotices(fire_overdue=True)
    urls = ["json://127.0.0.1:9/approvers", "nonsense-url"]
    told = governance.model_copy(update={"notify_approvers": urls, "approval_timeout_s": 8, "approval_overdue_s": 3})
    request = change("normal-deploy-v2.yaml", id="CHG-0088")
    run, kind = governed(fake_services, told, WEDNESDAY_NIGHT, ScriptedDecisions([], request.id))
    result = govern(request, run)
    assert result.state is State.EXPIRED and kind.touched == []  # nobody answered: nothing touched
    assert fake_services.notices.sent == [
        (urls, "Change CHG-0088 waits for your approval"),
        (urls, "Overdue: change CHG-0088 still waits for approval"),
    ]
    body = fake_services.notices.bodies[0]
    assert "requested by alice" in body and "/runs/flow-run/" in body and "changeflow approve CHG-0088" in body


def test_change_events_are_retried_and_never_fail_the_change(fake_services, governance):
    """The sequence's ``notify`` step (``tasks.shared.notify``, undecorated here) posts a change event to
    incident management when the change executes and when it ends; a refused post is retried, an
    unreachable endpoint is logged and the change still closes. A loopback receiver stands in."""
    from changeflow.local.event_sink import EventSink
    from changeflow.settings.governance import IncidentEvents

    with EventSink(fail_first=1) as sink:
        told = governance.model_copy(
            update={"incident_events": IncidentEvents(url=sink.url, routing_key="k", link="http://ui/CHG-0022")}
        )
        run, _ = governed(fake_services, told, WEDNESDAY_MORNING)
        result = govern(change("standard-config-tweak.yaml", id="CHG-0022"), run)
    assert result.state is State.CLOSED, result.outcome
    assert sink.attempts == len(sink.events) + 1  # the first post got a 503 and was retried
    summaries = [e["payload"]["summary"] for e in sink.events]
    assert summaries[0].startswith("CHG-0022 executing:") and summaries[-1].startswith("CHG-0022 closed:")
    event = sink.events[-1]
    assert event["routing_key"] == "k" and event["payload"]["source"] == "changeflow"
    assert event["payload"]["custom_details"]["state"] == "closed" and event["links"][0]["href"] == "http://ui/CHG-0022"

    unreachable = governance.model_copy(
        update={"incident_events": IncidentEvents(url="http://127.0.0.1:9/enqueue", attempts=2)}
    )
    run, _ = governed(fake_services, unreachable, WEDNESDAY_MORNING)
    assert govern(change("standard-config-tweak.yaml", id="CHG-0023"), run).state is State.CLOSED


def test_a_repository_the_executor_cannot_write_blocks_execution(fake_services, governance):
    """A change that could not keep its result in the repository would be undone by the next restart."""
    from tests.fakes import FakeRepository

    fake_services.repository = FakeRepository(read_only=True)
    run, kind = governed(fake_services, governance, WEDNESDAY_MORNING)
    result = govern(change("standard-config-tweak.yaml"), run)
    assert result.state is State.ABORTED, result.outcome
    assert "desired state kept in the repository: fake repository" in result.outcome
    assert "read-only" in result.outcome and kind.touched == []


def test_production_without_a_repository_blocks_a_model_change_naming_the_field(fake_services, governance):
    fake_services.repository = None
    run, kind = governed(fake_services, governance, WEDNESDAY_MORNING)
    result = govern(change("standard-config-tweak.yaml"), run)
    assert result.state is State.ABORTED and "production.repository: is not set" in result.outcome
    assert kind.touched == []

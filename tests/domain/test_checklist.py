"""The pre-change checklist gates execution: every item decided from facts, each with its reason."""

from changeflow.domain.policy import ChecklistFacts, WindowClass, blocking, evaluate_checklist
from changeflow.settings.loader import parse_change_request


def request(change_type: str = "normal", **communication):
    return parse_change_request(
        {
            "id": "CHG-0100",
            "type": change_type,
            "description": "deploy v2 of the classifier",
            "requester": "alice",
            "model": "m",
            "change": {"kind": "model_deployment", "to_version": 2, "golden_set": "g.json"},
            "rollback_plan": "reload v1, it stays warm",
            "communication": communication,
        }
    )


def facts(**overrides) -> ChecklistFacts:
    base = dict(
        plan_steps=6,
        rollback_steps=2,
        previous_available=True,
        previous_detail="m v1 READY",
        window=WindowClass.OFF_HOURS,
        window_name="off-hours",
        metrics_answer=True,
        metrics_detail="metrics answer",
    )
    return ChecklistFacts(**{**base, **overrides})


def items(req, **overrides) -> dict[str, tuple[bool, str]]:
    return {i.name: (i.ok, i.reason) for i in evaluate_checklist(req, facts(**overrides))}


def test_all_six_items_pass_with_announcement_and_acknowledgement():
    found = items(request(announced_in="#changes", on_call_ack="oscar"))
    assert list(found) == [
        "change documented",
        "rollback plan defined",
        "previous version available",
        "window communicated",
        "on-call notified",
        "monitoring ready",
    ]
    assert all(ok for ok, _ in found.values())
    assert found["on-call notified"][1] == "acknowledged by oscar"


def test_missing_evidence_blocks_with_what_to_set():
    blocked = {i.name: i.reason for i in blocking(evaluate_checklist(request(), facts()))}
    assert blocked == {
        "window communicated": "no announcement: set communication.announced_in",
        "on-call notified": "no acknowledgement: set communication.on_call_ack",
    }


def test_machine_checked_facts_block_when_false():
    found = items(
        request(announced_in="#changes", on_call_ack="oscar"),
        previous_available=False,
        previous_detail="m v1 not READY",
        metrics_answer=False,
        metrics_detail="metrics at :8002 do not answer",
    )
    assert found["previous version available"] == (False, "m v1 not READY")
    assert found["monitoring ready"] == (False, "metrics at :8002 do not answer")


def test_a_maintenance_window_is_its_own_announcement_and_a_delivered_event_notifies_on_call():
    found = items(
        request(), window=WindowClass.PLANNED_MAINTENANCE, window_name="sat-0200", on_call_notified_by_event=True
    )
    assert found["window communicated"] == (True, "announced in maintenance window sat-0200")
    assert found["on-call notified"] == (True, "change event delivered to incident management")


def test_an_emergency_waives_the_announcement_on_the_record_and_a_kind_without_previous_state_passes_it():
    found = items(request("emergency", on_call_ack="oscar"), previous_available=None, window=WindowClass.ANY_TIME)
    assert found["window communicated"] == (True, "waived for an emergency change (on the record)")
    assert found["previous version available"] == (True, "not applicable to this kind")


def test_a_server_refusing_model_loads_blocks_with_the_fix():
    refused = (
        False,
        "production refuses explicit model loads (…); fix: start tritonserver with --model-control-mode=explicit",
    )
    found = items(request(announced_in="#changes", on_call_ack="oscar"), model_control=refused)
    assert found["servers accept model loads"] == refused
    assert "servers accept model loads" not in items(
        request(announced_in="#changes", on_call_ack="oscar")
    )  # a kind that loads no models

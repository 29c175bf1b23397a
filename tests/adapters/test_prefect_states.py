"""A governed change's flow run ends in a state that tells its outcome (#27): Prefect showed a green
Completed for aborted, rejected, expired and rolled-back changes alike."""

import pytest
from prefect.states import get_state_exception

from changeflow.adapters.prefect_recovery import recovery_automations
from changeflow.adapters.prefect_states import ENDED_EVENTS, result_of, run_state
from changeflow.domain.record import ChangeResult, State


def result(state: State) -> ChangeResult:
    return ChangeResult(change_id="CHG-0042", kind="model_deployment", model="m", state=state, outcome="why it ended")


@pytest.mark.parametrize(
    "state, name",
    [
        (State.REJECTED, "Rejected"),
        (State.EXPIRED, "Expired"),
        (State.ABORTED, "Aborted"),
        (State.ROLLED_BACK, "Rolled back"),
        (State.VERIFYING, "Needs attention"),  # stopped midway: production may not be on a verified version
        (State.EXECUTING, "Needs attention"),
    ],
)
def test_a_change_that_did_not_close_ends_in_a_red_state_named_after_its_outcome(state, name):
    ended = run_state(result(state))
    assert ended.is_failed() and ended.name == name
    assert ended.message == f"CHG-0042 {state.value}: why it ended" and result_of(ended) == result(state)
    assert str(get_state_exception(ended)) == ended.message  # what Prefect logs as the run ends: the outcome


@pytest.mark.parametrize("state", [State.CLOSED, State.REVIEW_PENDING, State.SCHEDULED])
def test_a_closed_or_handed_on_change_is_completed_with_its_outcome(state):
    ended = run_state(result(state))
    assert ended.is_completed() and ended.name == "Completed" and ended.message.startswith(f"CHG-0042 {state.value}")


def test_an_outcome_state_is_an_end_for_the_heartbeat_watch_and_does_not_start_the_safety_net():
    silent, settle, _ = recovery_automations("00000000-0000-0000-0000-0000000000aa")
    names = {f"prefect.flow-run.{run_state(result(s)).name}" for s in State}
    assert names <= ENDED_EVENTS and names <= silent.trigger.expect  # an ended run is not taken for a silent one
    assert not (names - {"prefect.flow-run.Completed"}) & settle.trigger.expect  # only a raised/crashed run is settled


def test_the_result_is_read_back_when_prefect_kept_it_in_its_own_result_record():
    from prefect._internal.result_records import ResultRecord, ResultRecordMetadata

    ended = run_state(result(State.ROLLED_BACK))
    kept = ResultRecord(result=ended.data, metadata=ResultRecordMetadata(serializer={"type": "pickle"}))
    assert result_of(ended.model_copy(update={"data": kept})) == result(State.ROLLED_BACK)

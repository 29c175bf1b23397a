from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from changeflow import Risk, State
from changeflow.domain.record import (
    TERMINAL,
    TRANSITIONS,
    ChangeRecord,
    Phase,
    StepOutcome,
    can_transition,
    check_transition,
)
from changeflow.domain.request import ChangeRequest
from changeflow.exceptions import IllegalTransition

T0 = datetime(2026, 11, 25, 22, 0, tzinfo=timezone.utc)
REQUEST = ChangeRequest.model_validate(
    {
        "id": "CHG-0042",
        "type": "normal",
        "description": "Deploy classifier v2 to production",
        "requester": "alice",
        "model": "classifier",
        "change": {"kind": "model_deployment", "from_version": 1, "to_version": 2, "golden_set": "g.json"},
        "rollback_plan": "Reload classifier with specific [1]",
    }
)
HAPPY = [State.ASSESSED, State.APPROVED, State.SCHEDULED, State.EXECUTING, State.VERIFYING, State.CLOSED]


def new_record() -> ChangeRecord:
    return ChangeRecord.open(REQUEST, Risk.MEDIUM, T0)


def test_happy_path_reaches_closed_with_every_transition_recorded():
    record = new_record()
    for minute, state in enumerate(HAPPY, 1):
        record.transition(state, T0 + timedelta(minutes=minute), f"to {state}")
    assert record.state is State.CLOSED and record.is_terminal
    assert [t.to_state for t in record.transitions] == [State.REQUESTED, *HAPPY]
    assert record.outcome == "to closed"


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
def test_terminal_states_have_no_exit(terminal):
    for target in State:
        assert not can_transition(terminal, target)


def test_illegal_transition_names_the_allowed_ones():
    with pytest.raises(IllegalTransition, match="allowed from 'requested': assessed, rejected"):
        check_transition(State.REQUESTED, State.EXECUTING)


def reachable(start: State) -> set[State]:
    seen, frontier = {start}, [start]
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    return seen


def test_every_state_is_reachable_from_requested_or_detected():
    """A requested change reaches every state but ``detected``, where only an unauthorized record starts;
    that one ends reverted (rolled back) or closed, never in a governed change's states."""
    assert reachable(State.REQUESTED) == set(State) - {State.DETECTED}
    assert reachable(State.DETECTED) == {State.DETECTED, State.ROLLED_BACK, State.CLOSED}


def test_production_is_never_touched_on_the_way_to_rejected_or_expired():
    # rejected and expired are only reachable before executing: nothing ran.
    for state, nexts in TRANSITIONS.items():
        if State.REJECTED in nexts or State.EXPIRED in nexts:
            assert state in {State.REQUESTED, State.ASSESSED, State.APPROVED, State.SCHEDULED}


@given(st.lists(st.sampled_from(list(State)), max_size=20))
def test_random_walks_obey_the_table(targets):
    record = new_record()
    for i, target in enumerate(targets):
        before = record.state
        if target in TRANSITIONS[before]:
            record.transition(target, T0 + timedelta(seconds=i))
            assert record.state is target
        else:
            with pytest.raises(IllegalTransition):
                record.transition(target, T0 + timedelta(seconds=i))
            assert record.state is before
    # The history is a connected chain of legal moves.
    for prev, nxt in zip(record.transitions, record.transitions[1:]):
        assert nxt.from_state == prev.to_state and can_transition(prev.to_state, nxt.to_state)


def test_steps_carry_timestamps_and_reruns_open_a_new_step():
    record = new_record()
    record.start_step(Phase.EXECUTION, "stage", T0)
    record.start_step(Phase.EXECUTION, "stage", T0 + timedelta(seconds=5))  # re-run after a crash
    step = record.finish_step(Phase.EXECUTION, "stage", T0 + timedelta(seconds=7), StepOutcome.OK, "v2 READY")
    assert step.started_at == T0 + timedelta(seconds=5) and step.ended_at == T0 + timedelta(seconds=7)
    assert [s.outcome for s in record.execution_steps] == [None, StepOutcome.OK]
    with pytest.raises(IllegalTransition, match="no open rollback step"):
        record.finish_step(Phase.ROLLBACK, "restore_version", T0, StepOutcome.OK)


@pytest.mark.parametrize("end", [State.REJECTED, State.EXPIRED, State.ABORTED])
def test_an_end_that_changed_nothing_records_what_still_serves(end):
    record = ChangeRecord.open(ChangeRequest.model_validate(REQUEST), Risk.MEDIUM, T0)
    record.serving_version_before = 1
    path = {
        State.REJECTED: [State.REJECTED],
        State.EXPIRED: [State.ASSESSED, State.EXPIRED],
        State.ABORTED: [State.ASSESSED, State.APPROVED, State.SCHEDULED, State.EXECUTING, State.ABORTED],
    }[end]
    for state in path:
        record.transition(state, T0)
    assert (record.serving_version_before, record.serving_version_after) == (1, 1)

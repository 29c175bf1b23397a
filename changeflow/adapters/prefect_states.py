"""The Prefect state a governed change's flow run ends in, so the runs list tells the truth.

The run itself does not fail when a change is rejected or rolled back: the flow did its job and the record
says what happened. But Prefect showed every such run as a green *Completed*, and only the record told an
aborted, rejected, expired or rolled-back change apart from a closed one. So a run ends in a state named
after its outcome, of type FAILED (red in the UI and in dashboards) unless the change closed, was handed
to a maintenance window, or awaits its post-implementation review; the outcome is the state message.

Named states, not plain *Failed*: Prefect's events carry the state's name (``prefect.flow-run.Rejected``),
so the recovery automation that runs the safety net on ``prefect.flow-run.Failed`` (a run that raised)
is not started by a change that ended as its record says; the heartbeat automation lists these names among
the ends of a run (``ENDED_EVENTS``), or it would mark an ended run Crashed once its heartbeats stop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from changeflow.domain.record import ChangeResult
from changeflow.domain.record import State as RecordState
from changeflow.exceptions import ChangeNotDone

if TYPE_CHECKING:
    from prefect.states import State

NOT_DONE = {  # record state -> the run state's name
    RecordState.REJECTED: "Rejected",
    RecordState.EXPIRED: "Expired",
    RecordState.ABORTED: "Aborted",
    RecordState.ROLLED_BACK: "Rolled back",
}
DONE = frozenset({RecordState.CLOSED, RecordState.REVIEW_PENDING, RecordState.SCHEDULED})
NEEDS_ATTENTION = "Needs attention"  # any other state: the change stopped midway, production may need a person
REFUSED = "Refused"  # the request was refused before its record opened: nothing was touched
ENDED_EVENTS = frozenset(
    f"prefect.flow-run.{name}"
    for name in ("Completed", "Failed", "Cancelled", "Crashed", NEEDS_ATTENTION, REFUSED, *NOT_DONE.values())
)


def run_state(result: ChangeResult) -> State:
    """The final state of a governed change's flow run, carrying ``result`` (``result_of`` reads it). A red
    state's data is a ``ChangeNotDone`` holding it: Prefect's engine turns a failed run's data into the
    exception it logs as the run ends, and any other data logs a TypeError there instead of the outcome."""
    from prefect.states import Completed, Failed  # imported when a run ends: the names above need no Prefect

    message = f"{result.change_id} {result.state.value}: {result.outcome}"
    if result.state in DONE:
        return Completed(message=message, data=result)
    return Failed(
        name=NOT_DONE.get(result.state, NEEDS_ATTENTION), message=message, data=ChangeNotDone(message, result)
    )


def result_of(state: State) -> ChangeResult | None:
    """The ``ChangeResult`` a governed run's final state carries (``run_state``), also when Prefect's engine
    wrapped the data in its own result record; None for any other state (read the record instead)."""
    data = state.data
    for _ in range(3):  # a ResultRecord holding a ChangeNotDone holding the result, at most
        if isinstance(data, ChangeResult):
            return data
        data = getattr(data, "result", None)
    return None


def refused_state(why: str) -> State:
    """A request refused before anything was touched: a red *Refused*, the reason in one line."""
    from prefect.states import Failed

    return Failed(name=REFUSED, message=" ".join(why.split()))

"""The governed change flows, one per change type: the entrypoints a deployment runs. Each takes the
change request and nothing else it would act on: the environment, the governance bundle, the approvers'
keys and the clock are the executor's own configuration (its environment file, its sealed bundle,
``CHANGEFLOW_CLOCK``). A run that brings any of them is refused before anything is assessed: a run
parameter is refused on the record (its outcome says why); a job variable fails the run before any record
is opened, since the process itself may be running on the requester's variables. The sequence itself is
``flows.governed``.

``environment``, ``governance`` and ``now`` stay in the signature only so that a run carrying them is
taken, refused and recorded rather than dropped by Prefect with no record (a value Prefect cannot even
validate is still dropped by Prefect, with no record); no caller may set them. A run ends in the state
its record's outcome names (``adapters.prefect_states``): closed is Completed, a rolled-back change is not.
"""

from __future__ import annotations

from datetime import datetime

from changeflow.flows.governed import Governed, Steps, admit, govern, open_request
from changeflow.flows.kind_flows import flow_of
from changeflow.tasks.shared import assess, check_catalog, notify, run_checklist, schedule, wait_for_slot
from prefect import flow, get_run_logger
from prefect.states import State as PrefectState

from changeflow.adapters.prefect import change_run_name, run_origin
from changeflow.adapters.prefect_recovery import start_safety_net
from changeflow.adapters.prefect_states import refused_state, run_state
from changeflow.bootstrap import Services, bootstrap
from changeflow.domain.record import ChangeRecord, ChangeResult, State
from changeflow.domain.request import ChangeRequest, ChangeType
from changeflow.domain.separation import run_refusal
from changeflow.exceptions import ChangeStateError, InvalidInput, RequestRefused, UnknownKind
from changeflow.kinds import kind_of
from changeflow.settings.defaults import environment_or_default, governance_or_default, scheduling_clock
from changeflow.settings.environment import Environment
from changeflow.settings.governance import Governance

TASKS = Steps(assess, check_catalog, schedule, wait_for_slot, run_checklist, notify)


def executor_run(services: Services, governance: Governance, clock: datetime, clock_source: str | None) -> Governed:
    """The governed sequence as an executor runs it: the Prefect tasks, the kind's execution flow."""

    def execute(request: ChangeRequest, record: ChangeRecord, judged_by: Governance) -> ChangeResult:
        return flow_of(kind_of(request))(request, services.environment, record, judged_by)

    return Governed(
        services=services, governance=governance, steps=TASKS, execute=execute, clock=clock, clock_source=clock_source
    )


def run_governed(request: ChangeRequest, given: dict[str, bool], change_type: ChangeType) -> ChangeResult:
    """Accept the run, build the executor's services once, and run the governed sequence. A request
    refused before its record opens raises ``RequestRefused`` (one line); a refusal of given parameters
    is recorded."""
    if request.type is not change_type:
        raise RequestRefused(f"{request.id} is a {request.type} change; run it with the {request.type}-change flow")
    _, job_variables = run_origin()
    if (overridden := run_refusal(False, {}, job_variables)) is not None:
        # the process itself may run on the requester's variables: trust none of its configuration
        raise ChangeStateError(overridden)
    services, governance = bootstrap(environment_or_default()), governance_or_default()
    if (refused := run_refusal(False, given, {})) is not None:
        # opened with the executor's own configuration; nothing given is used
        recorder = open_request(request, services)
        recorder.transition(State.REJECTED, refused)
        get_run_logger().error("%s %s", request.id, refused)
        return ChangeResult.of(recorder.record)
    clock, clock_source = scheduling_clock(None, request.type.value)
    run = executor_run(services, governance, clock, clock_source)
    try:
        recorder = admit(request, run)
    except (InvalidInput, UnknownKind, ChangeStateError) as exc:
        raise RequestRefused(str(exc)) from exc
    return govern(request, run, recorder)


def governed_state(request: ChangeRequest, given: dict[str, bool], change_type: ChangeType) -> PrefectState:
    """The run's final state: the record's outcome, or *Refused* with why when the request was refused."""
    try:
        return run_state(run_governed(request, given, change_type))
    except RequestRefused as refused:
        get_run_logger().error("refused: %s", refused)
        return refused_state(str(refused))


def _given(environment: Environment | None, governance: Governance | None, now: datetime | None) -> dict[str, bool]:
    return {"environment": environment is not None, "governance": governance is not None, "now": now is not None}


@flow(name="standard-change", flow_run_name=change_run_name, on_crashed=[start_safety_net])
def standard_change(
    request: ChangeRequest,
    environment: Environment | None = None,
    governance: Governance | None = None,
    now: datetime | None = None,
) -> PrefectState:
    """Low risk, from the pre-approved catalog, business hours; no approval at run time."""
    return governed_state(request, _given(environment, governance, now), ChangeType.STANDARD)


@flow(name="normal-change", flow_run_name=change_run_name, on_crashed=[start_safety_net])
def normal_change(
    request: ChangeRequest,
    environment: Environment | None = None,
    governance: Governance | None = None,
    now: datetime | None = None,
) -> PrefectState:
    """Medium risk or above; the change advisory board approves (quorum rises with risk); off-hours or maintenance."""
    return governed_state(request, _given(environment, governance, now), ChangeType.NORMAL)


@flow(name="emergency-change", flow_run_name=change_run_name, on_crashed=[start_safety_net])
def emergency_change(
    request: ChangeRequest,
    environment: Environment | None = None,
    governance: Governance | None = None,
    now: datetime | None = None,
) -> PrefectState:
    """High risk, one expedited approver, any time even in a freeze; review pending until the post-implementation review."""
    return governed_state(request, _given(environment, governance, now), ChangeType.EMERGENCY)


CHANGE_FLOWS = {
    ChangeType.STANDARD: standard_change,
    ChangeType.NORMAL: normal_change,
    ChangeType.EMERGENCY: emergency_change,
}

"""Recovery without a person: Prefect automations that run the safety net when a change's executor dies.

Three automations, installed (replaced) by ``changeflow serve`` or ``changeflow recovery install``:

- **silent runs crash**: Prefect's zombie recipe. A change flow run (or a rollback, or the safety net
  itself) that sends no heartbeat for ``silence_s`` (two beats missed, and more) is set *Crashed*: its host
  or worker is gone with it.
- **settle ended changes**: a change flow run that ends *Crashed* or *Failed* runs the
  ``safety-net`` deployment, which settles every change whose executor died (``flows.safety``).
- **settle after a crashed safety net**: the safety net killed in its own restore runs again.

A worker marks a run whose process was killed *Crashed* at once, so the usual path takes seconds; the
heartbeat path covers a worker that died with it.

The flows that execute changes also carry ``start_safety_net`` as their *on_crashed* hook, which the
worker runs itself once it has marked the run Crashed: a second path that does not go through Prefect's
trigger service. That service can lose the event: on its default SQLite database, under load, counting
it fails with ``database is locked``, is retried three times at once, and the event is dead-lettered
(measured with Prefect 3.8.8 on two busy cores). Recovery then waited for the heartbeat automation
(70 s) or the schedule (a minute). Heartbeats are sent every ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``
seconds (at least 30, Prefect's floor): the worker's environment sets it (``HEARTBEAT_ENV``).
"""

from __future__ import annotations

from datetime import timedelta

from changeflow.adapters.prefect_states import ENDED_EVENTS
from changeflow.kinds import KINDS

GOVERNED_FLOWS = ("standard-change", "normal-change", "emergency-change", "maintenance-window")
SAFETY_NET = "safety-net"
HEARTBEAT_S = 30
SILENCE_S = 70.0  # two missed heartbeats and 10 s more: a live run is never taken for dead
HEARTBEAT_ENV = {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_S)}
PREFIX = "changeflow: "
SAFETY_NET_DEPLOYMENT = f"{SAFETY_NET}/{SAFETY_NET}"  # flow/deployment, as ``changeflow serve`` deploys it


def change_flows() -> tuple[str, ...]:
    """The runs that execute changes: the governed flows and every registered kind's flow, read from the
    registry when the automations are built, so a kind added later is watched with no change here (a failed
    ``rollback`` run is its parent's, or the safety net's own try)."""
    return (*GOVERNED_FLOWS, *(kind.flow_name for kind in KINDS.values()))


def _flow_runs_of(names: tuple[str, ...]) -> dict:
    from prefect.events.schemas.events import ResourceSpecification

    return dict(
        match=ResourceSpecification({"prefect.resource.id": "prefect.flow-run.*"}),
        match_related=ResourceSpecification({"prefect.resource.role": "flow", "prefect.resource.name": list(names)}),
        for_each={"prefect.resource.id"},
    )


def recovery_automations(safety_net_deployment_id: str, silence_s: float = SILENCE_S) -> list:
    """The automations (not yet created): see the module docstring."""
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState, RunDeployment
    from prefect.events.schemas.automations import EventTrigger, Posture

    ended = sorted(ENDED_EVENTS)  # a change's run may end in a state named after its outcome
    run_safety_net = RunDeployment(source="selected", deployment_id=safety_net_deployment_id)
    return [
        Automation(
            name=PREFIX + "silent runs crash",
            description="A change's flow run that stopped sending heartbeats lost its process: mark it Crashed.",
            trigger=EventTrigger(
                after={"prefect.flow-run.heartbeat"},
                expect={"prefect.flow-run.heartbeat", *ended},
                posture=Posture.Proactive,
                threshold=1,
                within=timedelta(seconds=silence_s),
                **_flow_runs_of((*change_flows(), "rollback", SAFETY_NET)),
            ),
            actions=[
                ChangeFlowRunState(
                    state=StateType.CRASHED, message=f"no heartbeat for {silence_s:.0f}s: its process or host is gone"
                )
            ],
        ),
        Automation(
            name=PREFIX + "settle ended changes",
            description="A change's flow run crashed or failed: the safety net rolls back or aborts what it left.",
            trigger=EventTrigger(
                expect={"prefect.flow-run.Crashed", "prefect.flow-run.Failed"},
                posture=Posture.Reactive,
                threshold=1,
                **_flow_runs_of(change_flows()),
            ),
            actions=[run_safety_net],
        ),
        Automation(
            name=PREFIX + "settle after a crashed safety net",
            description="The safety net died in its own restore: run it again.",
            trigger=EventTrigger(
                expect={"prefect.flow-run.Crashed"},
                posture=Posture.Reactive,
                threshold=1,
                **_flow_runs_of((SAFETY_NET,)),
            ),
            actions=[run_safety_net],
        ),
    ]


def install_recovery(safety_net_deployment_id: str, silence_s: float = SILENCE_S) -> list[str]:
    """Create the automations, then remove older ones of the same names (idempotent, and never without
    them in between); returns their names."""
    from prefect.client.orchestration import get_client

    automations = recovery_automations(safety_net_deployment_id, silence_s)
    with get_client(sync_client=True) as client:
        for automation in automations:
            older = client.read_automations_by_name(automation.name)
            automation.create()
            for existing in older:
                client.delete_automation(existing.id)
    return [a.name for a in automations]


def start_safety_net(flow, flow_run, state) -> None:
    """*on_crashed* hook: start a run of the safety-net deployment (see the module docstring), unless one is
    already about to start, which will find this change too. Never raises: without a safety-net deployment
    (not installed by ``changeflow serve``) it says ``changeflow reconcile`` settles the change."""
    from datetime import datetime, timezone

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.exceptions import ObjectNotFound
    from prefect.logging.loggers import flow_run_logger

    logger = flow_run_logger(flow_run)
    try:
        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name(SAFETY_NET_DEPLOYMENT)
            waiting = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED, StateType.PENDING]))
                ),
            )
            now = datetime.now(timezone.utc).timestamp()
            due = [
                r
                for r in waiting
                if r.next_scheduled_start_time is None or r.next_scheduled_start_time.timestamp() <= now + 10
            ]
            if due:
                logger.warning("run crashed: safety-net run %s is about to start and settles it", due[0].name)
                return
            started = client.create_flow_run_from_deployment(deployment.id, tags=["changeflow", "after-crash"])
        logger.warning("run crashed: started safety-net run %s to settle the change", started.name)
    except ObjectNotFound:
        logger.warning(
            "run crashed and no %s deployment exists: `changeflow reconcile` settles the change", SAFETY_NET_DEPLOYMENT
        )
    except Exception as exc:  # the automations and the schedule remain
        logger.warning(
            "run crashed; the safety net could not be started from here (%s: %s)", exc.__class__.__name__, exc
        )

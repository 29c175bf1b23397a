"""The recovery automations' shapes (the fault drills in tests/flows/test_recovery.py run them for real)."""

from datetime import timedelta

from changeflow.adapters.prefect_recovery import HEARTBEAT_S, SAFETY_NET, change_flows, recovery_automations

NET = "00000000-0000-0000-0000-0000000000aa"


def test_silence_marks_crashed_and_an_ended_change_runs_the_safety_net():
    silent, ended, net_crashed = recovery_automations(NET)
    trigger = silent.trigger
    assert trigger.posture == "Proactive" and trigger.after == {"prefect.flow-run.heartbeat"}
    assert {"prefect.flow-run.heartbeat", "prefect.flow-run.Completed", "prefect.flow-run.Crashed"} <= trigger.expect
    assert trigger.within >= timedelta(seconds=2 * HEARTBEAT_S)  # a live run that misses one beat is not taken for dead
    assert set(trigger.match_related["prefect.resource.name"]) == {*change_flows(), "rollback", SAFETY_NET}
    assert [a.type for a in silent.actions] == ["change-flow-run-state"] and silent.actions[0].state.value == "CRASHED"

    assert ended.trigger.posture == "Reactive" and ended.trigger.expect == {
        "prefect.flow-run.Crashed",
        "prefect.flow-run.Failed",
    }
    assert (
        "rollback" not in ended.trigger.match_related["prefect.resource.name"]
    )  # the net's own failed tries would loop
    assert list(net_crashed.trigger.match_related["prefect.resource.name"]) == [SAFETY_NET]
    for automation in (ended, net_crashed):
        assert [(a.type, str(a.deployment_id)) for a in automation.actions] == [("run-deployment", NET)]


def test_every_deployed_flow_that_executes_changes_starts_the_safety_net_when_it_crashes():
    """The crash hook is the path that does not go through Prefect's trigger service (the drill
    ``test_the_crash_hook_alone_starts_the_safety_net`` runs it with the automations paused)."""
    from changeflow.flows.lifecycle import emergency_change, normal_change, standard_change
    from changeflow.flows.maintenance_window import maintenance_window

    from changeflow.adapters.prefect_recovery import start_safety_net

    for deployed in (standard_change, normal_change, emergency_change, maintenance_window):
        assert deployed.name in change_flows() and start_safety_net in deployed.on_crashed_hooks, deployed.name


FIFTH_KIND = """
from typing import Literal

from changeflow.domain.request import ChangeSpec, KindPlan, steps
from changeflow.kinds import ChangeKind


class CanaryWeights(ChangeSpec):
    kind: Literal["canary_weights"] = "canary_weights"
    weights: list[int] = [10, 50, 100]


class CanaryWeightsKind(ChangeKind):
    spec = CanaryWeights
    flow = "changeflow.flows.canary_weights:canary_weights"
    flow_name = "canary-weights"
    restore = "changeflow.flows.canary_weights:restore"

    def plan(self, model, spec) -> KindPlan:
        return KindPlan(touches=(), execution=steps(("shift", "shift the split")), verification=(), rollback=())


KIND = CanaryWeightsKind()
"""


def test_a_fifth_kind_is_watched_with_nothing_changed_but_its_module(tmp_path, monkeypatch):
    """A throwaway kind module, found by the registry as a module of changeflow.kinds is: the automations
    watch its flow's runs (silence, and crash or failure), and the safety net's own runs stay apart."""
    import sys

    import changeflow.kinds

    (tmp_path / "canary_weights.py").write_text(FIFTH_KIND)
    monkeypatch.setattr(changeflow.kinds, "__path__", [*changeflow.kinds.__path__, str(tmp_path)])
    try:
        for name, kind in changeflow.kinds._discover().items():
            monkeypatch.setitem(changeflow.kinds.KINDS, name, kind)
    finally:
        sys.modules.pop("changeflow.kinds.canary_weights", None)
    assert changeflow.kinds.kind_of("canary_weights").flow_name == "canary-weights"

    silent, ended, net_crashed = recovery_automations(NET)
    assert "canary-weights" in silent.trigger.match_related["prefect.resource.name"]
    assert "canary-weights" in ended.trigger.match_related["prefect.resource.name"]
    assert list(net_crashed.trigger.match_related["prefect.resource.name"]) == [SAFETY_NET]

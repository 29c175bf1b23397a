"""A kind takes its bake's rule from governance (``bake_rule``), its flow bakes with exactly that rule, and
no kind flow takes a parameter that could judge the bake (a run parameter is the requester's). No server."""

import inspect
from types import SimpleNamespace

import pytest
from changeflow.flows.kind_flows import flow_of
from changeflow.tasks import shared

from changeflow.domain.comparison import BakeRule, ComparisonThresholds, Verification
from changeflow.domain.verdicts import BakeThresholds, MetricCheck
from changeflow.kinds import KINDS, kind_of
from changeflow.settings.loader import load_change_request
from tests.conftest import EXAMPLES

GOVERNED = Verification(
    thresholds=BakeThresholds(max_error_rate=0.02),
    blue_green_thresholds=BakeThresholds(max_error_rate=0.0, failure_limit=0),
    comparison=ComparisonThresholds(confidence=0.95),
    checks=(MetricCheck(name="5xx", provider="prom", query="q", max_value=0.01),),
)


def request(name: str):
    return load_change_request(EXAMPLES / "changes" / name)


def test_a_model_deployment_is_judged_by_the_thresholds_and_against_the_old_version():
    deploy = request("normal-deploy-v2.yaml")
    rule = kind_of(deploy).bake_rule(GOVERNED, deploy.change)
    assert rule == BakeRule(thresholds=GOVERNED.thresholds, comparison=GOVERNED.comparison, checks=GOVERNED.checks)
    budget = deploy.change.model_copy(
        update={"max_output_disagreement": 0.05}
    )  # the request's own budget, approved with it
    assert kind_of(deploy).bake_rule(GOVERNED, budget).comparison.max_disagreement == 0.05
    strict = GOVERNED.model_copy(
        update={"comparison": GOVERNED.comparison.model_copy(update={"max_disagreement": 0.0})}
    )
    assert kind_of(deploy).bake_rule(strict, budget).comparison.max_disagreement == 0.0  # a request cannot loosen it
    unpaired = GOVERNED.model_copy(update={"paired": False})
    assert kind_of(deploy).bake_rule(unpaired, deploy.change).comparison is None


def test_a_blue_green_is_judged_by_its_own_thresholds_without_a_comparison():
    switch = request("blue-green.yaml")
    assert kind_of(switch).bake_rule(GOVERNED, switch.change) == BakeRule(
        thresholds=GOVERNED.blue_green_thresholds, checks=GOVERNED.checks
    )


def test_kinds_that_do_not_bake_have_no_rule():
    examples = {r.kind: r for r in map(load_change_request, sorted((EXAMPLES / "changes").glob("*.yaml")))}
    assert sorted(examples) == sorted(KINDS)
    assert sorted(name for name, r in examples.items() if kind_of(r).bake_rule(GOVERNED, r.change) is None) == [
        "config_change",
        "triton_upgrade",
    ]


@pytest.mark.parametrize("name", sorted(KINDS))
def test_no_kind_flow_takes_a_parameter_that_judges_its_bake(name):
    parameters = inspect.signature(flow_of(kind_of(name)).fn).parameters
    judging = (BakeThresholds, BakeRule, ComparisonThresholds, Verification, MetricCheck)
    assert not {"thresholds", "limits", "comparison", "rule", "verification"} & set(parameters), parameters
    assert not any(any(t.__name__ in str(p.annotation) for t in judging) for p in parameters.values()), parameters


def test_monitor_bakes_with_the_rule_it_is_given(monkeypatch):
    seen = {}

    def bake(*args, **kwargs):
        seen.update(kwargs)
        return SimpleNamespace(verdict=SimpleNamespace(passed=True), samples=[], elapsed_s=0.0)

    class Step:
        detail = ""

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(shared, "bake", bake)
    monkeypatch.setattr(shared, "bound_golden", lambda *a: None)
    monkeypatch.setattr(shared, "get_run_logger", lambda: SimpleNamespace(info=lambda *a: None))
    run = SimpleNamespace(record=SimpleNamespace(attachments={}), step=lambda phase, name: Step())
    services = SimpleNamespace(
        production=None,
        metrics=None,
        environment=SimpleNamespace(bake=SimpleNamespace(interval_s=0.5, probes_per_sample=20)),
        metric_checks=lambda checks: [(check, "provider") for check in checks],
    )
    rule = GOVERNED.bake_rule(GOVERNED.thresholds, GOVERNED.comparison)
    shared.monitor.fn(run, services, "golden.json", 2, 10.0, rule, baseline=1)
    assert seen["limits"] == GOVERNED.thresholds and seen["comparison"] == GOVERNED.comparison and seen["baseline"] == 1
    assert (
        seen["checks"] == [(GOVERNED.checks[0], "provider")] and seen["interval_s"] == 0.5
    )  # the mechanics: the environment's
    shared.monitor.fn(run, services, "golden.json", 2, 10.0, rule.model_copy(update={"comparison": None}), baseline=1)
    assert seen["baseline"] is None  # not paired: the old version is not probed

"""The approval form shows the rule that will judge the bake, read from governance's verification (the one
home of bake thresholds), and a change whose kind does not bake shows none. Fakes only, no server."""

from __future__ import annotations

from changeflow.flows.governed import Governed, govern

from changeflow.domain.record import State
from changeflow.domain.request import ChangeRequest, ChangeType
from changeflow.domain.verdicts import BakeThresholds, MetricCheck
from changeflow.settings.loader import load_change_request
from tests.conftest import EXAMPLES
from tests.governed.conftest import WEDNESDAY_NIGHT, ScriptedDecisions
from tests.governed.test_sequence import PLAIN, KindDouble


def form_for(request: ChangeRequest, services, governance) -> str:
    decisions = ScriptedDecisions([("carol", False)], request.id)
    services.decisions = decisions
    run = Governed(
        services=services,
        governance=governance,
        steps=PLAIN,
        execute=KindDouble(services),
        clock=WEDNESDAY_NIGHT,
        clock_source="test",
    )
    assert govern(request, run).state is State.REJECTED
    ((purpose, form),) = decisions.asked
    assert purpose == "approval"
    return form


def test_the_form_shows_the_bake_rule_governance_holds(fake_services, governance):
    form = form_for(load_change_request(EXAMPLES / "changes" / "normal-deploy-v2.yaml"), fake_services, governance)
    line = next(line for line in form.splitlines() if line.startswith("**Bake**"))
    assert "governance's `verification.yaml`, in the bundle your plan digest names" in line
    assert "a sample fails above 5.0% errors" in line and "the bake fails when more than 1 sample fails" in line
    assert (
        "judged against the old version (while it stays loaded) at confidence 0.99 for errors" in line
        and "0.999 for latency" in line
    )


def test_stricter_governance_is_what_the_form_shows(fake_services, governance):
    verification = governance.verification.model_copy(
        update={
            "thresholds": BakeThresholds(max_error_rate=0.01, failure_limit=0),
            "paired": False,
            "checks": (MetricCheck(name="gateway 5xx", provider="prometheus", query="q", max_value=0.02),),
        }
    )
    form = form_for(
        load_change_request(EXAMPLES / "changes" / "normal-deploy-v2.yaml"),
        fake_services,
        governance.model_copy(update={"verification": verification}),
    )
    assert "a sample fails above 1.0% errors" in form and "the bake fails on the first failed sample" in form
    assert "not judged against the old version" in form and "metric checks: gateway 5xx <= 0.02 (on prometheus)" in form


def test_a_kind_that_does_not_bake_shows_no_bake_rule(fake_services, governance):
    form = form_for(load_change_request(EXAMPLES / "changes" / "normal-self-approval.yaml"), fake_services, governance)
    assert "**Bake**" not in form


def test_the_form_shows_how_a_deployment_widens_over_a_fleet_and_a_config_change_shows_no_waves(
    fake_services, governance
):
    form = form_for(load_change_request(EXAMPLES / "changes" / "normal-deploy-v2.yaml"), fake_services, governance)
    assert "**Waves** on a fleet of replicas (governance's, per change type): 1 replica, then 100% of them" in form
    tweak = load_change_request(EXAMPLES / "changes" / "standard-config-tweak.yaml")
    tweak = tweak.model_copy(update={"type": ChangeType.NORMAL})
    assert "**Waves**" not in form_for(tweak, fake_services, governance)

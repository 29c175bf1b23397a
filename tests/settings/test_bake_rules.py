"""Bake thresholds have one home, governance's ``verification.yaml``: read from the bundle, covered by its
digest and so by the plan digest approvers sign; an environment file that still sets a moved field is
refused in one line naming the field and the fix (the values changeflow itself once wrote are ignored
with a warning). No server."""

import logging
import shutil

import pytest
import yaml

from changeflow.bootstrap import Services
from changeflow.domain.bundle import GOVERNANCE_FILES
from changeflow.domain.comparison import Verification
from changeflow.domain.identity import plan_digest
from changeflow.domain.verdicts import BakeThresholds, MetricCheck
from changeflow.exceptions import InvalidSettings
from changeflow.kinds import plan_for
from changeflow.settings import paths
from changeflow.settings.bundle import write_bundle
from changeflow.settings.environment import Environment
from changeflow.settings.loader import load_change_request, load_governance, load_settings_file
from tests.fakes import FakeLocks, FakeModelServer, FakeRecordStore

SERVERS = {
    "production": {"name": "production", "http_url": "http://p:8000"},
    "staging": {"name": "staging", "http_url": "http://s:8000"},
}


def environment_file(tmp_path, bake: dict):
    path = tmp_path / "environment.yaml"
    path.write_text(yaml.safe_dump({**SERVERS, "bake": bake}))
    return path


@pytest.mark.parametrize(
    ("bake", "field", "fix"),
    [
        (
            {
                "checks": [
                    {
                        "name": "5xx",
                        "provider": {"kind": "prometheus", "url": "http://x"},
                        "query": "q",
                        "max_value": 0.01,
                    }
                ]
            },
            "bake.checks",
            "move bake.checks to verification.yaml checks: in the governance bundle",
        ),
        ({"paired": False}, "bake.paired", "move bake.paired to verification.yaml paired: in the governance bundle"),
        (
            {"interval_s": 1.0, "thresholds": {"max_error_rate": 0.5}},
            "bake.thresholds",
            "move bake.thresholds to verification.yaml thresholds:",
        ),
    ],
)
def test_an_environment_that_still_sets_a_judgement_is_refused_in_one_line(tmp_path, bake, field, fix):
    path = environment_file(tmp_path, bake)
    with pytest.raises(InvalidSettings) as refused:
        load_settings_file(path, Environment)
    line = str(refused.value)
    assert "\n" not in line and refused.value.field == field, line
    assert line.startswith(
        f"{path}: {field}: decides the bake's verdict, so governance holds it now, not the environment; fix: {fix}"
    ), line


def test_what_changeflow_itself_once_wrote_is_ignored_with_a_warning(tmp_path, caplog):
    """``changeflow triton up`` wrote ``paired: true`` and ``checks: []`` into every environment file: nobody chose them."""
    with caplog.at_level(logging.WARNING, logger="changeflow.settings"):
        environment = load_settings_file(
            environment_file(
                tmp_path,
                {"interval_s": 0.5, "probes_per_sample": 20, "smoke_requests": 10, "paired": True, "checks": []},
            ),
            Environment,
        )
    assert environment.bake.interval_s == 0.5 and "paired" not in environment.bake.model_dump()
    assert [r.getMessage() for r in caplog.records] == [
        "environment: bake.paired: true is ignored, governance decides it now (verification.yaml paired:); remove it from the environment file",
        "environment: bake.checks: [] is ignored, governance decides it now (verification.yaml checks:); remove it from the environment file",
    ]
    assert "paired" not in yaml.safe_dump(environment.model_dump(mode="json"))  # what is written from now on


def test_the_mechanics_stay_in_the_environment_and_a_check_asks_a_provider_by_name():
    environment = Environment.model_validate(
        {
            **SERVERS,
            "bake": {"interval_s": 2, "providers": {"prometheus": {"kind": "prometheus", "url": "http://prom:9090"}}},
        }
    )
    server = FakeModelServer(lambda *a: {}, ready={})
    services = Services(
        environment=environment,
        production=server,
        metrics=server,
        staging=server,
        records=FakeRecordStore(),
        locks=FakeLocks(),
    )
    asked = MetricCheck(name="5xx", provider="prometheus", query="q", max_value=0.01)
    [(check, provider)] = services.metric_checks([asked])
    assert check is asked and type(provider).__name__ == "PrometheusProvider"
    with pytest.raises(InvalidSettings) as refused:
        services.metric_checks([asked.model_copy(update={"provider": "gateway"})])
    assert refused.value.field == "bake.providers.gateway" and "governance's metric check '5xx' asks it" in str(
        refused.value
    )


def test_the_examples_verification_shows_the_defaults_and_a_typo_is_refused(tmp_path):
    shown = load_settings_file(paths.EXAMPLES / "verification.yaml", Verification)
    assert shown == Verification()
    assert shown.thresholds == BakeThresholds() and shown.paired and shown.checks == ()
    assert shown.blue_green_thresholds == BakeThresholds(
        max_error_rate=0.0, failure_limit=0, min_requests=1
    )  # was flows/blue_green.py's
    typo = tmp_path / "verification.yaml"
    typo.write_text("thresholds:\n  max_eror_rate: 0.5\n")
    with pytest.raises(InvalidSettings) as refused:
        load_settings_file(typo, Verification)
    assert refused.value.field == "thresholds.max_eror_rate"


def test_the_thresholds_are_covered_by_the_plan_digest_through_the_bundle(tmp_path):
    folder = tmp_path / "governance"
    folder.mkdir()
    for name in GOVERNANCE_FILES:
        if (paths.EXAMPLES / name).is_file():
            shutil.copy(paths.EXAMPLES / name, folder / name)
    request = load_change_request(paths.EXAMPLES / "changes" / "normal-deploy-v2.yaml")
    plan = plan_for(request)

    def signed_digest() -> tuple[str, Verification]:
        governance = load_governance(folder, pinned=[])
        return plan_digest(request, plan, "g" * 64, governance.bundle.digest), governance.verification

    before, verification = signed_digest()
    path = folder / "verification.yaml"
    path.write_text(path.read_text().replace("max_error_rate: 0.05", "max_error_rate: 0.5"))
    after, loosened = signed_digest()
    assert loosened.thresholds.max_error_rate == 0.5 and verification.thresholds.max_error_rate == 0.05
    assert after != before  # an approval given on the stricter rule is not one on the looser


def test_a_bundle_written_from_governance_keeps_its_bake_rules(tmp_path):
    governance = load_governance(paths.EXAMPLES, pinned=[])
    verification = governance.verification.model_copy(
        update={
            "blue_green_thresholds": BakeThresholds(max_error_rate=0.01),
            "paired": False,
            "checks": (
                MetricCheck(
                    name="gateway 5xx", provider="prometheus", query='sum(x{model="{{model}}"})', max_value=0.01
                ),
            ),
        }
    )
    folder = write_bundle(governance.model_copy(update={"verification": verification}), tmp_path / "bundle")
    assert load_governance(folder, pinned=[]).verification == verification

"""The kinds registry: every module of changeflow.kinds is a kind, found without a list to edit."""

import pkgutil

import pytest
from changeflow.flows.kind_flows import flow_of, restore_of

import changeflow.kinds
from changeflow import ChangeRequest, UnknownKind
from changeflow.kinds import KINDS, kind_of


def test_every_module_in_the_package_is_a_registered_kind():
    modules = sorted(m.name for m in pkgutil.iter_modules(changeflow.kinds.__path__) if not m.name.startswith("_"))
    assert sorted(KINDS) == modules == ["blue_green", "config_change", "model_deployment", "triton_upgrade"]


def test_the_request_accepts_exactly_the_registered_specs():
    schema = ChangeRequest.model_json_schema()
    assert sorted(schema["properties"]["change"]["discriminator"]["mapping"]) == sorted(KINDS)


def test_an_unknown_kind_names_the_known_ones():
    with pytest.raises(
        UnknownKind,
        match="unknown change kind 'canary'; known: blue_green, config_change, model_deployment, triton_upgrade",
    ):
        kind_of("canary")


@pytest.mark.parametrize("name", sorted(KINDS))
def test_each_kind_has_a_flow_and_a_restore_in_the_flows_module_of_its_name(name):
    kind = kind_of(name)
    assert flow_of(kind).name.replace("-", "_") == name
    assert flow_of(kind).name == kind.flow_name  # the name recovery watches (adapters/prefect_recovery.change_flows)
    assert callable(restore_of(kind))
    assert kind.risk_points >= 1

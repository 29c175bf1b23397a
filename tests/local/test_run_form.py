"""The Run form of each change-type deployment: the change request only, its type preset, a model
deployment shown first, every field titled and described in the engineer's words. The schema is checked
with the validator Prefect's server runs on a new flow run; no server is started."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from changeflow.flows.lifecycle import CHANGE_FLOWS
from prefect.utilities.callables import parameter_schema
from prefect.utilities.schema_tools import ValidationError, validate

from changeflow.kinds import FORM_ORDER
from changeflow.local.run_form import request_form
from tests.conftest import EXAMPLES

TYPES = ["standard", "normal", "emergency"]
INTERNAL = re.compile(r"``|changeflow\.|\b(domain|services|adapters|settings|kinds)\.[a-z_]+")


def form_of(change_type: str) -> tuple[dict, dict]:
    flow = next(f for t, f in CHANGE_FLOWS.items() if t.value == change_type)
    return request_form(parameter_schema(flow.fn).model_dump(), change_type, FORM_ORDER[0])


def example(name: str = "normal-deploy-v2.yaml", **changes) -> dict:
    request = yaml.safe_load((EXAMPLES / "changes" / name).read_text())
    request["change"]["golden_set"] = "golden/classifier.json"  # as typed in the form: the governance folder's
    return {**request, **changes}


@pytest.mark.parametrize("change_type", TYPES)
def test_the_form_asks_for_the_request_only_with_its_type_preset(change_type):
    schema, parameters = form_of(change_type)
    assert list(schema["properties"]) == ["request"] and schema["required"] == ["request"]
    assert schema["definitions"]["ChangeType"]["enum"] == [change_type]
    assert parameters == {"request": {"type": change_type, "change": {"kind": "model_deployment"}}}
    validate(parameters, schema, raise_on_error=True, ignore_required=True)  # what Prefect checks on deploy
    change = schema["definitions"]["ChangeRequest"]["properties"]["change"]
    assert "oneOf" not in change  # Prefect's form draws a oneOf as raw JSON, an anyOf as tabs
    assert change["anyOf"][0] == {"$ref": "#/definitions/ModelDeployment"}  # the form opens on a model deployment


def test_an_optional_field_is_a_plain_field_that_keeps_its_own_words():
    schema, _ = form_of("normal")
    serving = schema["definitions"]["ModelDeployment"]["properties"]["from_version"]
    assert "anyOf" not in serving and serving["type"] == "integer" and serving["minimum"] == 1
    assert serving["description"].startswith("Optional: the version serving now")
    not_before = schema["definitions"]["RequestedWindow"]["properties"]["not_before"]
    assert not_before["format"] == "date-time" and "default" not in not_before


def test_every_field_is_titled_and_described_without_module_names():
    schema, _ = form_of("normal")
    for name, definition in schema["definitions"].items():
        assert not INTERNAL.search(definition.get("description", "")), (name, definition.get("description"))
        for field, spec in definition.get("properties", {}).items():
            if field == "kind":
                continue
            text = json.dumps(spec)
            assert spec.get("description") and not INTERNAL.search(spec["description"]), (name, field, text)
            assert spec.get("title") or "$ref" in text, (name, field)


def test_a_filled_in_request_passes_and_the_wrong_type_is_refused_as_prefect_would():
    schema, _ = form_of("normal")
    validate({"request": example()}, schema, raise_on_error=True)
    with pytest.raises(ValidationError):
        validate({"request": example(type="standard")}, schema, raise_on_error=True)


def test_parameters_a_requester_adds_still_reach_the_worker_to_be_refused_on_the_record():
    schema, _ = form_of("normal")
    validate({"request": example(), "environment": {"production": {}}}, schema, raise_on_error=True)

"""The standard change catalog: a standard change runs without approval only inside a template, and the
catalog fails closed: what it cannot bound it refuses when read, in one line naming the field and the fix."""

from pathlib import Path

import pytest
import yaml

from changeflow.domain.catalog import Bound, Catalog, match_standard
from changeflow.exceptions import InvalidSettings
from changeflow.settings.loader import load_settings_file, parse_change_request

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

CATALOG = Catalog.model_validate(
    {
        "templates": [
            {
                "id": "batching-delay",
                "description": "queue delay within bounds",
                "kind": "config_change",
                "models": ["scaler"],
                "fields": {"dynamic_batching.max_queue_delay_microseconds": {"min": 0, "max": 2000}},
            },
            {
                "id": "precision",
                "description": "one of two modes",
                "kind": "config_change",
                "models": ["scaler"],
                "fields": {"parameters.mode": {"values": ["fast", "exact"]}},
            },
        ]
    }
)


def request(settings: dict, model: str = "scaler", kind: str = "config_change"):
    change = (
        {"kind": kind, "set": settings}
        if kind == "config_change"
        else {"kind": kind, "to_version": 2, "golden_set": "g.json"}
    )
    return parse_change_request(
        {
            "id": "CHG-0100",
            "type": "standard",
            "description": "tune the scaler queue delay",
            "requester": "alice",
            "model": model,
            "change": change,
            "rollback_plan": "restore the previous config",
        }
    )


def match(settings: dict, **kwargs):
    r = request(settings, **kwargs)
    return match_standard(r, CATALOG, dict(getattr(r.change, "set", {})))


def test_a_change_inside_a_template_matches_it():
    found = match({"dynamic_batching.max_queue_delay_microseconds": 500})
    assert found.template == "batching-delay" and "queue delay within bounds" in found.reason


def test_a_value_outside_the_bounds_is_refused_with_the_bound():
    refused = match({"dynamic_batching.max_queue_delay_microseconds": 5000})
    assert refused.template is None
    assert (
        "max_queue_delay_microseconds=5000 must be <= 2000" in refused.reason
        and "file it as a normal change" in refused.reason
    )


def test_a_field_no_template_allows_is_refused():
    assert "does not allow changing instance_group.0.count" in match({"instance_group.0.count": 2}).reason


def test_another_model_or_kind_is_refused_by_the_closest_reason():
    assert (
        "does not cover model other"
        in match({"dynamic_batching.max_queue_delay_microseconds": 1}, model="other").reason
    )
    assert "covers config_change, not model_deployment" in match({}, kind="model_deployment").reason


def test_bounds_check_numbers_and_listed_values():
    assert Bound(min=1, max=4).problem("3") is None and Bound(min=1).problem(0) == "must be >= 1"
    assert Bound(max=4).problem("many") == "must be a number"
    assert (
        Bound(values=["fast"]).problem("slow") == "must be one of fast"
        and match({"parameters.mode": "exact"}).template == "precision"
    )


def test_an_empty_catalog_refuses_everything():
    r = request({"dynamic_batching.max_queue_delay_microseconds": 1})
    assert "the catalog is empty" in match_standard(r, Catalog(), dict(r.change.set)).reason


def template(**overrides):
    return {
        "id": "t",
        "description": "d",
        "kind": "config_change",
        "models": ["scaler"],
        "fields": {"a.b": {"min": 0, "max": 1}},
        **overrides,
    }


def refusal(folder: Path, *templates: str | dict) -> str:
    """The one line a catalog file (its templates, or its whole text) is refused with, less the file's name."""
    path = folder / "catalog.yaml"
    path.write_text(templates[0] if isinstance(templates[0], str) else yaml.safe_dump({"templates": list(templates)}))
    with pytest.raises(InvalidSettings) as refused:
        load_settings_file(path, Catalog)
    line = str(refused.value)
    assert "\n" not in line and line.startswith(f"{path}: ")
    return line.removeprefix(f"{path}: ")


def test_the_shipped_catalog_loads():
    assert [t.id for t in load_settings_file(EXAMPLES / "catalog.yaml", Catalog).templates] == [
        "batching-delay",
        "instance-count",
    ]


def test_a_range_upside_down_is_refused(tmp_path):
    assert (
        refusal(tmp_path, template(fields={"a.b": {"min": 5, "max": 1}}))
        == "templates.0.fields.a.b: min 5 is above max 1; fix: swap them: min is the lowest value allowed"
    )


def test_a_bound_that_bounds_nothing_or_mixes_kinds_is_refused(tmp_path):
    assert (
        refusal(tmp_path, template(fields={"a.b": {}}))
        == "templates.0.fields.a.b: bounds nothing; fix: give min and/or max, or a list of values"
    )
    assert "gives both values and min/max" in refusal(tmp_path, template(fields={"a.b": {"values": ["x"], "max": 3}}))
    assert "allows no value (values is empty)" in refusal(tmp_path, template(fields={"a.b": {"values": []}}))


def test_a_template_that_bounds_no_field_is_refused(tmp_path):
    assert refusal(tmp_path, template(fields={})).startswith(
        "templates.0.fields: bounds no field: the template would pre-approve every change"
    )
    no_fields = template()
    del no_fields["fields"]
    assert refusal(tmp_path, no_fields).startswith("templates.0.fields: bounds no field")
    assert refusal(tmp_path, {}) == "templates.0.id: field required; fix: add 'id'"


def test_two_templates_with_one_id_are_refused(tmp_path):
    assert (
        refusal(tmp_path, template(), template())
        == "templates: template id 't' is given twice; fix: give each template its own id (a match names the template)"
    )


def test_a_nan_or_infinite_bound_in_the_file_is_refused_naming_its_path(tmp_path):
    text = "templates:\n  - {id: t, description: d, kind: config_change, models: [scaler], fields: {x: {min: 0, max: %s}}}\n"
    assert (
        refusal(tmp_path, text % ".nan")
        == "templates.0.fields.x.max: is not a finite number (.nan); fix: write a finite number"
    )
    assert (
        refusal(tmp_path, text % "-.inf")
        == "templates.0.fields.x.max: is not a finite number (-.inf); fix: write a finite number"
    )
    assert (
        refusal(tmp_path, text % "1.0e+400")
        == "templates.0.fields.x.max: is not a finite number (.inf); fix: write a finite number"
    )
    with pytest.raises(ValueError, match="finite number"):
        Bound(max=float("nan"))


def test_a_value_that_is_not_a_finite_number_is_outside_every_range():
    assert Bound(min=0, max=2000).problem("nan") == "must be a finite number"
    assert (
        Bound(max=4).problem("inf") == "must be a finite number" and Bound(min=0).problem(10**400) == "must be a number"
    )
    assert "must be a finite number" in match({"dynamic_batching.max_queue_delay_microseconds": "nan"}).reason


def test_a_change_that_sets_no_field_a_template_bounds_matches_none():
    catalog = Catalog.model_validate(
        {"templates": [template(kind="model_deployment", fields={"to_version": {"min": 1, "max": 9}})]}
    )
    r = request({}, kind="model_deployment")
    found = match_standard(r, catalog, {})
    assert found.template is None and "the change sets no field a template can bound" in found.reason

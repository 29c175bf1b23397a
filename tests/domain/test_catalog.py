"""The standard change catalog: a standard change runs without approval only inside a template."""

from changeflow.domain.catalog import Bound, Catalog, match_standard
from changeflow.settings.loader import parse_change_request

CATALOG = Catalog.model_validate({"templates": [
    {"id": "batching-delay", "description": "queue delay within bounds", "kind": "config_change", "models": ["scaler"],
     "fields": {"dynamic_batching.max_queue_delay_microseconds": {"min": 0, "max": 2000}}},
    {"id": "precision", "description": "one of two modes", "kind": "config_change", "models": ["scaler"],
     "fields": {"parameters.mode": {"values": ["fast", "exact"]}}},
]})


def request(settings: dict, model: str = "scaler", kind: str = "config_change"):
    change = {"kind": kind, "set": settings} if kind == "config_change" else {"kind": kind, "to_version": 2, "golden_set": "g.json"}
    return parse_change_request({"id": "CHG-0100", "type": "standard", "description": "tune the scaler queue delay",
                                 "requester": "alice", "model": model, "change": change, "rollback_plan": "restore the previous config"})


def match(settings: dict, **kwargs):
    r = request(settings, **kwargs)
    return match_standard(r, CATALOG, dict(getattr(r.change, "set", {})))


def test_a_change_inside_a_template_matches_it():
    found = match({"dynamic_batching.max_queue_delay_microseconds": 500})
    assert found.template == "batching-delay" and "queue delay within bounds" in found.reason


def test_a_value_outside_the_bounds_is_refused_with_the_bound():
    refused = match({"dynamic_batching.max_queue_delay_microseconds": 5000})
    assert refused.template is None
    assert "max_queue_delay_microseconds=5000 must be <= 2000" in refused.reason and "file it as a normal change" in refused.reason


def test_a_field_no_template_allows_is_refused():
    assert "does not allow changing instance_group.0.count" in match({"instance_group.0.count": 2}).reason


def test_another_model_or_kind_is_refused_by_the_closest_reason():
    assert "does not cover model other" in match({"dynamic_batching.max_queue_delay_microseconds": 1}, model="other").reason
    assert "covers config_change, not model_deployment" in match({}, kind="model_deployment").reason


def test_bounds_check_numbers_and_listed_values():
    assert Bound(min=1, max=4).problem("3") is None and Bound(min=1).problem(0) == "must be >= 1"
    assert Bound(max=4).problem("many") == "must be a number"
    assert Bound(values=["fast"]).problem("slow") == "must be one of fast" and match({"parameters.mode": "exact"}).template == "precision"


def test_an_empty_catalog_refuses_everything():
    r = request({"dynamic_batching.max_queue_delay_microseconds": 1})
    assert "the catalog is empty" in match_standard(r, Catalog(), dict(r.change.set)).reason

"""The Run form of a change-type deployment, as an engineer meets it in the Prefect UI: the change request
and nothing else, its type preset by the deployment, a model deployment as the kind shown first.

The change flows keep their ``environment``, ``governance`` and ``now`` parameters only to refuse and record
a run that brings its own (the worker's configuration judges every change); the form never shows them.
Prefect checks a new run against the deployment's schema, and the schema here leaves other parameters
allowed, so such a run still reaches the worker and is refused on the record rather than vanishing.
"""

from __future__ import annotations

import copy
import json
import re


def request_form(schema: dict, change_type: str, first_kind: str) -> tuple[dict, dict]:
    """(the deployment's parameter schema, its default parameters) from the flow's full parameter schema:
    only ``request``, its definitions pruned to what it uses, its type fixed to ``change_type``, its
    change preset to ``first_kind`` (``kinds.FORM_ORDER[0]``)."""
    request = copy.deepcopy(schema["properties"]["request"])
    definitions = copy.deepcopy(schema.get("definitions", {}))
    used = _reachable(request, definitions)
    form = {
        "title": "Parameters",
        "type": "object",
        "properties": {"request": {**request, "title": "Change request"}},
        "required": ["request"],
        "definitions": {name: definitions[name] for name in sorted(used)},
    }
    for definition in form["definitions"].values():
        for spec in definition.get("properties", {}).values():
            _as_the_ui_draws_it(spec)
    change_types = form["definitions"].get("ChangeType")
    if change_types is not None:
        change_types["enum"] = [change_type]
        change_types["default"] = change_type
    return form, {"request": {"type": change_type, "change": {"kind": first_kind}}}


def _as_the_ui_draws_it(spec: dict) -> None:
    """Prefect's form draws ``anyOf`` as tabs, one per option, but a ``oneOf`` as raw JSON: a discriminated
    union becomes an ``anyOf`` (each option's ``kind`` is a constant, so one option matches a value, as
    before). An optional field (``anyOf: [T, null]``, default null) becomes plain ``T``, not required: left
    empty it is not sent, and the request's default applies."""
    if "oneOf" in spec:
        spec["anyOf"] = spec.pop("oneOf")
        spec.pop("discriminator", None)
    options = spec.get("anyOf", [])
    if len(options) == 2 and {"type": "null"} in options and spec.get("default", "absent") is None:
        (kept,) = [o for o in options if o != {"type": "null"}]
        del spec["anyOf"], spec["default"]
        spec.update({key: value for key, value in kept.items() if key not in spec})  # the field's own words win


def _reachable(node: dict, definitions: dict) -> set[str]:
    """The names of the definitions ``node`` refers to, directly or through each other."""
    seen: set[str] = set()
    pending = [node]
    while pending:
        text = json.dumps(pending.pop())
        for name in re.findall(r'"#/definitions/([^"]+)"', text):
            if name not in seen and name in definitions:
                seen.add(name)
                pending.append(definitions[name])
    return seen

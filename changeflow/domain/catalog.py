"""The standard change catalog: pre-approved templates a standard change must match to skip approval.

A template names a change kind, the models it covers and, per field, the bounds a value must keep. It fails
closed: a bound that bounds nothing, a range upside down, a template that bounds no field, two templates
with one ID are refused when the catalog is read; a change that sets no field a template bounds, or a value
that is not a finite number, matches no template.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from changeflow.domain.checks import Refusal
from changeflow.domain.request import ChangeRequest


class Bound(BaseModel):
    """What one field may be set to: a numeric range (``min`` and / or ``max``) or a list of ``values``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    min: float | None = None
    max: float | None = None
    values: list[str] | None = None

    @model_validator(mode="after")
    def _bounds_something(self) -> Bound:
        ranged = self.min is not None or self.max is not None
        if self.values is None and not ranged:
            raise Refusal("bounds nothing", "give min and/or max, or a list of values")
        if self.values is not None and ranged:
            raise Refusal("gives both values and min/max", "give either a list of values or a numeric range")
        if self.values is not None and not self.values:
            raise Refusal(
                "allows no value (values is empty)", "list the values allowed, or remove the field from the template"
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise Refusal(f"min {self.min:g} is above max {self.max:g}", "swap them: min is the lowest value allowed")
        return self

    def problem(self, value: object) -> str | None:
        if self.values is not None:
            return None if str(value) in self.values else f"must be one of {', '.join(self.values)}"
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            return "must be a number"
        if not math.isfinite(number):  # NaN passes every comparison below
            return "must be a finite number"
        if self.min is not None and number < self.min:
            return f"must be >= {self.min:g}"
        if self.max is not None and number > self.max:
            return f"must be <= {self.max:g}"
        return None


class Template(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1)
    description: str
    kind: str
    models: list[str] = Field(min_length=1)
    fields: dict[str, Bound] = Field(default_factory=dict, validate_default=True)  # none: refused below

    @field_validator("fields")
    @classmethod
    def _bounds_a_field(cls, fields: dict[str, Bound]) -> dict[str, Bound]:
        if not fields:
            raise Refusal(
                "bounds no field: the template would pre-approve every change of its kind to its models",
                "name the fields it allows, each with min/max or values",
            )
        return fields


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    templates: list[Template] = Field(default_factory=list)

    @field_validator("templates")
    @classmethod
    def _one_id_each(cls, templates: list[Template]) -> list[Template]:
        ids = [t.id for t in templates]
        if twice := next((i for i in ids if ids.count(i) > 1), None):
            raise Refusal(
                f"template id {twice!r} is given twice", "give each template its own id (a match names the template)"
            )
        return templates


class CatalogMatch(BaseModel, frozen=True):
    template: str | None
    reason: str


def _mismatch(request: ChangeRequest, template: Template, fields: dict[str, object]) -> tuple[int, str] | None:
    """None when the request fits; else (distance, reason): the smaller, the closer the template."""
    if request.kind != template.kind:
        return 3, f"template '{template.id}' covers {template.kind}, not {request.kind}"
    if request.model not in template.models:
        return 2, f"template '{template.id}' does not cover model {request.model}"
    if not fields:
        return (
            1,
            f"template '{template.id}' bounds {', '.join(template.fields)}; the change sets no field a template can bound",
        )
    for path in fields:
        if path not in template.fields:
            return 1, f"template '{template.id}' does not allow changing {path}"
    for path, value in fields.items():
        if problem := template.fields[path].problem(value):
            return 0, f"template '{template.id}': {path}={value!r} {problem}"
    return None


def match_standard(request: ChangeRequest, catalog: Catalog, fields: dict[str, object]) -> CatalogMatch:
    """The first template the request fits, or the reason the closest one refused it.

    ``fields``: what the change sets that a template must bound (the kind says which: ``catalog_fields``).
    """
    misses = []
    for template in catalog.templates:
        mismatch = _mismatch(request, template, fields)
        if mismatch is None:
            return CatalogMatch(
                template=template.id, reason=f"matches standard template '{template.id}': {template.description}"
            )
        misses.append(mismatch)
    closest = min(misses, key=lambda m: m[0])[1] if misses else "the catalog is empty"
    return CatalogMatch(template=None, reason=f"no standard template matches ({closest}); file it as a normal change")

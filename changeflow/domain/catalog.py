"""The standard change catalog: pre-approved templates a standard change must match to skip approval.

A template names a change kind, the models it covers and, per field, the bounds a value must keep.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from changeflow.domain.request import ChangeRequest


class Bound(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    min: float | None = None
    max: float | None = None
    values: list[str] | None = None

    def problem(self, value: object) -> str | None:
        if self.values is not None:
            return None if str(value) in self.values else f"must be one of {', '.join(self.values)}"
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return "must be a number"
        if self.min is not None and number < self.min:
            return f"must be >= {self.min:g}"
        if self.max is not None and number > self.max:
            return f"must be <= {self.max:g}"
        return None


class Template(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    description: str
    kind: str
    models: list[str] = Field(min_length=1)
    fields: dict[str, Bound] = Field(default_factory=dict)


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    templates: list[Template] = Field(default_factory=list)


class CatalogMatch(BaseModel, frozen=True):
    template: str | None
    reason: str


def _mismatch(request: ChangeRequest, template: Template, fields: dict[str, object]) -> tuple[int, str] | None:
    """None when the request fits; else (distance, reason): the smaller, the closer the template."""
    if request.kind != template.kind:
        return 3, f"template '{template.id}' covers {template.kind}, not {request.kind}"
    if request.model not in template.models:
        return 2, f"template '{template.id}' does not cover model {request.model}"
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
            return CatalogMatch(template=template.id, reason=f"matches standard template '{template.id}': {template.description}")
        misses.append(mismatch)
    closest = min(misses, key=lambda m: m[0])[1] if misses else "the catalog is empty"
    return CatalogMatch(template=None, reason=f"no standard template matches ({closest}); file it as a normal change")

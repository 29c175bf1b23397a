"""Read change requests and settings files from YAML, turning every problem into one line: file,
field, problem, fix. Nothing is touched before a request has passed here, and no traceback reaches a
user for bad input. A relative golden-set path in a request file is resolved against that file's folder.
"""

from __future__ import annotations

import difflib
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from changeflow.domain.request import ChangeRequest
from changeflow.exceptions import InvalidChangeRequest, InvalidSettings
from changeflow.kinds import KINDS, kind_of
from changeflow.settings import strict_yaml
from changeflow.settings.strict_yaml import shorten

if TYPE_CHECKING:
    from changeflow.settings.governance import Governance

EXAMPLES_HINT = "see examples/changes/ for valid requests"


def load_change_request(path: str | Path) -> ChangeRequest:
    source = str(path)
    try:
        data = strict_yaml.load(path)
    except strict_yaml.StrictYamlError as exc:
        raise InvalidChangeRequest(source, exc.where, exc.problem, exc.fix) from None
    return with_paths_from(parse_change_request(data, source), Path(path).resolve().parent)


def with_paths_from(request: ChangeRequest, folder: Path) -> ChangeRequest:
    """The request with a relative golden-set path made absolute against ``folder``."""
    golden = kind_of(request).golden_set(request.change)
    if golden is None or Path(golden).is_absolute():
        return request
    change = request.change.model_copy(update={"golden_set": str((folder / golden).resolve())})
    return request.model_copy(update={"change": change})


def parse_change_request(data: Any, source: str = "<request>") -> ChangeRequest:
    if not isinstance(data, dict):
        raise InvalidChangeRequest(source, "(document)", "is not a mapping of fields", f"write 'field: value' lines; {EXAMPLES_HINT}")
    try:
        return ChangeRequest.model_validate(data)
    except RecursionError:
        raise InvalidChangeRequest(source, "(document)", "is nested too deeply", f"write a flat request; {EXAMPLES_HINT}") from None
    except ValidationError as exc:
        # An unknown field is usually a typo that also makes a required one "missing": report it first.
        errors = sorted(exc.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")
        field, problem, fix = explain(errors[0])
        if len(errors) > 1:
            fix += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        raise InvalidChangeRequest(source, field, problem, fix) from None


def explain(error: dict[str, Any]) -> tuple[str, str, str]:
    """(field path, problem, fix) for one pydantic error of a ChangeRequest."""
    field, parent, _ = _locate(error["loc"])
    kind, ctx, msg = error["type"], error.get("ctx", {}), error["msg"]
    name = field.rsplit(".", 1)[-1]
    info = parent.model_fields.get(name) if parent else None
    described = f" ({info.description})" if info and info.description else ""
    if kind == "missing":
        return field, "is missing", f"add '{name}'{described}"
    if kind == "extra_forbidden":
        containers = _locate(error["loc"][:-1])[2]
        if len(containers) != 1:
            return field, "is not a known field", f"remove it; {EXAMPLES_HINT}"
        allowed = list(containers[0].model_fields)
        close = difflib.get_close_matches(name, allowed, n=1)
        guess = f"did you mean '{close[0]}'? " if close else ""
        return field, "is not a known field", f"{guess}remove or rename it; allowed here: {', '.join(allowed)}"
    if kind == "union_tag_invalid":
        return field + ".kind", f"unknown kind {ctx.get('tag')!r}", f"use one of: {', '.join(KINDS)}"
    if kind == "union_tag_not_found":
        return field + ".kind", "is missing", f"add 'kind', one of: {', '.join(KINDS)}"
    if kind == "string_pattern_mismatch":
        return field, f"{shorten(repr(error.get('input')))} has the wrong form", f"match {ctx.get('pattern')}{described}"
    if kind == "enum":
        return field, f"{shorten(repr(error.get('input')))} is not allowed", f"use one of: {ctx.get('expected')}"
    if kind == "timezone_aware":
        return field, "has no time zone", "add one, e.g. 2026-11-25T22:00:00+01:00"
    if kind == "value_error":
        return field, shorten(msg.removeprefix("Value error, "), 200), "correct the value"
    return field, shorten(msg[0].lower() + msg[1:], 200), f"correct the value{described}"


def _locate(loc: tuple) -> tuple[str, type[BaseModel] | None, list[type[BaseModel]]]:
    """Dotted field path (union tags left out), the model holding its last part, the models it leads to."""
    current: list[type[BaseModel]] = [ChangeRequest]
    parent: type[BaseModel] | None = None
    parts: list[str] = []
    for part in loc:
        holder = next((m for m in current if isinstance(part, str) and part in m.model_fields), None)
        if holder is not None:
            parent = holder
            parts.append(part)
            current = _models_in(holder.model_fields[part].annotation)
            continue
        tagged = [m for m in current if m.model_fields.get("kind") and m.model_fields["kind"].default == part]
        if tagged:
            current = tagged
            continue
        if part != "[key]":
            parts.append(str(part))
        current = []
    return ".".join(parts) or "(document)", parent, current


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _read_yaml(path: Path) -> Any:
    try:
        return strict_yaml.load(path)
    except strict_yaml.StrictYamlError as exc:
        raise InvalidSettings(str(path), exc.where, exc.problem, exc.fix) from None


def load_settings_file(path: str | Path, model: type[BaseModel]) -> Any:
    """Any changeflow settings file (environment, calendar, catalog, approvers) validated into ``model``."""
    try:
        return model.model_validate(_read_yaml(Path(path)) or {})
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"]) or "(document)"
        raise InvalidSettings(str(path), field, first["msg"][0].lower() + first["msg"][1:], "correct the value") from None


def load_governance(directory: str | Path, **overrides: Any) -> "Governance":
    """Governance from ``approvers.yaml``, ``catalog.yaml`` and ``calendar.yaml`` in ``directory``."""
    from changeflow.domain.catalog import Catalog
    from changeflow.domain.policy import Approvers
    from changeflow.domain.windows import Calendar
    from changeflow.settings.governance import Governance

    folder = Path(directory)
    return Governance(
        approvers=load_settings_file(folder / "approvers.yaml", Approvers),
        catalog=load_settings_file(folder / "catalog.yaml", Catalog),
        calendar=load_settings_file(folder / "calendar.yaml", Calendar),
        **overrides,
    )

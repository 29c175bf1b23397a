"""Read change requests and governance from YAML, turning every problem into one line: file, field,
problem, fix. Nothing is touched before a request has passed here, and no traceback reaches a user for
bad input. A relative golden-set path in a request file is resolved against that file's folder.

YAML is read the strict way (``strict_yaml``: a regular file, bounded in size and depth, no aliases, no key
given twice, finite numbers only); ``load_settings_file`` from there reads any other settings file.
"""

from __future__ import annotations

import difflib
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from changeflow.domain.catalog import Catalog
from changeflow.domain.comparison import Verification
from changeflow.domain.drift import DriftPolicy
from changeflow.domain.names import person
from changeflow.domain.policy import Approvers
from changeflow.domain.request import ChangeRequest
from changeflow.domain.windows import Calendar
from changeflow.exceptions import InvalidChangeRequest, InvalidSettings
from changeflow.kinds import KINDS, kind_of
from changeflow.settings.bundle import bundle_settings
from changeflow.settings.governance import Governance, GovernanceSettings
from changeflow.settings.strict_yaml import StrictYamlError, load_settings_file, read_yaml, shorten
from changeflow.settings.variables import approver_registry, governance_pins

EXAMPLES_HINT = "see examples/changes/ for valid requests"


def load_change_request(path: str | Path) -> ChangeRequest:
    source = str(path)
    try:
        data = read_yaml(path)
    except StrictYamlError as exc:
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
        raise InvalidChangeRequest(
            source, "(document)", "is not a mapping of fields", f"write 'field: value' lines; {EXAMPLES_HINT}"
        )
    try:
        return ChangeRequest.model_validate(data)
    except RecursionError:
        raise InvalidChangeRequest(
            source, "(document)", "is nested too deeply", f"write a flat request; {EXAMPLES_HINT}"
        ) from None
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
        return (
            field,
            f"{shorten(repr(error.get('input')))} has the wrong form",
            f"match {ctx.get('pattern')}{described}",
        )
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


def read_registry(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Public keys and one-time-code commitments from ``{approvers: {NAME: {ed25519, totp_sha256}}}`` (enrol writes it)."""
    if not path.is_file():
        return {}, {}
    data = read_yaml(path) or {}
    entries = data.get("approvers") if isinstance(data, dict) else None
    if not isinstance(entries, dict) or not all(
        isinstance(e, dict) and isinstance(e.get("ed25519"), str) for e in entries.values()
    ):
        raise InvalidSettings(
            str(path),
            "approvers",
            "is not a map of NAME: {ed25519: KEY}",
            "re-create it with `changeflow approvers enrol NAME`",
        )
    keys = {person(str(name)): entry["ed25519"] for name, entry in entries.items()}
    codes = {
        person(str(name)): str(entry["totp_sha256"]) for name, entry in entries.items() if entry.get("totp_sha256")
    }
    return keys, codes


def load_governance(directory: str | Path, pinned: list[str] | None = None, **overrides: Any) -> Governance:
    """Governance from the bundle in ``directory``: ``approvers.yaml``, ``catalog.yaml``, ``calendar.yaml``,
    (optional) ``verification.yaml``, ``drift.yaml`` and ``keys.yaml`` (approvers' and executors' public
    keys), sealed by a governance maintainer when the executor pins maintainer keys (``pinned``, default
    ``CHANGEFLOW_GOVERNANCE_KEYS``). Only an executor that pins none (a trial) also reads the enrolment
    registry (``CHANGEFLOW_APPROVER_KEYS``)."""
    folder = Path(directory)
    pins = governance_pins() if pinned is None else pinned
    bundle = bundle_settings(folder, pins)
    registered_keys, registered_codes = (
        ({}, {}) if pins else read_registry(approver_registry())
    )  # a trial also reads enrolments
    overrides.setdefault("approver_keys", {**registered_keys, **bundle.pop("approver_keys")})
    overrides.setdefault("authenticators", {**registered_codes, **bundle.pop("authenticators")})
    for name, value in bundle.items():
        overrides.setdefault(name, value)
    if (folder / "governance.yaml").is_file():  # timeouts, notifications, proofs: sealed with the rest
        settings = load_settings_file(folder / "governance.yaml", GovernanceSettings)
        for name in settings.model_fields_set:
            overrides.setdefault(name, getattr(settings, name))
    if (folder / "verification.yaml").is_file():
        overrides.setdefault("verification", load_settings_file(folder / "verification.yaml", Verification))
    if (folder / "drift.yaml").is_file():
        overrides.setdefault("drift", load_settings_file(folder / "drift.yaml", DriftPolicy))
    return Governance(
        approvers=load_settings_file(folder / "approvers.yaml", Approvers),
        catalog=load_settings_file(folder / "catalog.yaml", Catalog),
        calendar=load_settings_file(folder / "calendar.yaml", Calendar),
        **overrides,
    )

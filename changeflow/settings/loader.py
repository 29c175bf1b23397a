"""Read change requests and settings files from YAML, turning every problem into one line: file,
field, problem, fix. Nothing is touched before a request has passed here, and no traceback reaches a
user for bad input. A relative golden-set path in a request file is resolved against that file's folder.

YAML is read the strict way: only a regular file, of at most ``MAX_BYTES``, nested at most ``MAX_DEPTH``
levels, without aliases, with no key given twice (PyYAML keeps the last one silently: a request saying
``to_version: 2`` and then ``to_version: 3`` would plan v3), with every number finite (no ``.nan``, ``.inf``).
"""

from __future__ import annotations

import difflib
import stat
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ValidationError

from changeflow.domain.checks import first_non_finite
from changeflow.domain.request import ChangeRequest
from changeflow.exceptions import InvalidChangeRequest, InvalidSettings
from changeflow.kinds import KINDS, kind_of

if TYPE_CHECKING:
    from changeflow.settings.governance import Governance

EXAMPLES_HINT = "see examples/changes/ for valid requests"


MAX_BYTES = 1024 * 1024
MAX_DEPTH = 32


class StrictYamlError(ValueError):
    def __init__(self, where: str, problem: str, fix: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where, self.problem, self.fix = where, problem, fix


class _StrictLoader(yaml.SafeLoader):
    def compose_node(self, parent, index):
        depth = getattr(self, "_depth", 0) + 1
        if depth > MAX_DEPTH:
            mark = self.peek_event().start_mark
            raise StrictYamlError(f"line {mark.line + 1}", f"nested deeper than {MAX_DEPTH} levels", "flatten it: a change request is a few levels deep")
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise StrictYamlError(f"line {mark.line + 1}", "uses an alias (*name)", "write the value out: aliases can multiply a small file into a huge one")
        self._depth = depth
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth = depth - 1

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise StrictYamlError(f"line {key_node.start_mark.line + 1}", "a key must be a plain name", "write 'field: value'")
            if key in seen:
                raise StrictYamlError(f"line {key_node.start_mark.line + 1}", f"{shorten(repr(key))} is given twice (first on line {seen[key]})",
                                      "keep one: YAML would silently use the last")
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _refuse_tag(loader, node):
    raise StrictYamlError(f"line {node.start_mark.line + 1}", f"the YAML type {node.tag} is not taken here", "write plain values: text, numbers, lists, mappings")


for _tag in ("binary", "set", "omap", "pairs"):
    _StrictLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _refuse_tag)


def shorten(text: str, limit: int = 80) -> str:
    """A value as quoted in a message: never the whole of a long one."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def read_text(path: Path) -> str:
    """The file's text, if it is a regular file of at most ``MAX_BYTES`` in UTF-8."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise StrictYamlError("(file)", "does not exist", "check the path") from None
    except OSError as exc:
        raise StrictYamlError("(file)", f"cannot be read ({exc.__class__.__name__})", "pass a readable YAML file") from None
    if not stat.S_ISREG(info.st_mode):
        raise StrictYamlError("(file)", "is not a regular file", "pass a YAML file, not a folder, device or pipe")
    if info.st_size > MAX_BYTES:
        raise StrictYamlError("(file)", f"is {info.st_size:,} bytes, over the {MAX_BYTES:,} a request may have", "pass the request itself")
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            raise StrictYamlError("(file)", f"is over the {MAX_BYTES:,} bytes a request may have", "pass the request itself")
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise StrictYamlError("(file)", "is not UTF-8 text", "save it as UTF-8") from None
    except OSError as exc:
        raise StrictYamlError("(file)", f"cannot be read ({exc.__class__.__name__})", "pass a readable YAML file") from None


def parse(text: str) -> Any:
    try:
        return _finite(yaml.load(text, Loader=_StrictLoader))  # noqa: S506 (a SafeLoader subclass)
    except StrictYamlError:
        raise
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(document)"
        raise StrictYamlError(where, f"not valid YAML: {getattr(exc, 'problem', None) or 'cannot be parsed'}", "fix the YAML syntax there") from None
    except RecursionError:
        raise StrictYamlError("(document)", f"nested deeper than {MAX_DEPTH} levels", "flatten it") from None
    except (ValueError, TypeError, OverflowError) as exc:  # a value YAML itself cannot construct, e.g. 2026-02-30
        raise StrictYamlError("(document)", shorten(f"a value cannot be read: {exc}", 200), "write plain values (an ISO time with offset for times)") from None


def _finite(data: Any) -> Any:
    """``data`` if every number in it is finite (see ``domain.checks``)."""
    if found := first_non_finite(data):
        spelling = {"nan": ".nan", "inf": ".inf", "-inf": "-.inf"}[str(found[1])]  # as YAML writes it (1.0e+400 reads as .inf)
        raise StrictYamlError(found[0], f"is not a finite number ({spelling})", "write a finite number")
    return data


def read_yaml(path: str | Path) -> Any:
    """A YAML file read the strict way (see the module docstring)."""
    return parse(read_text(Path(path)))


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
        return read_yaml(path)
    except StrictYamlError as exc:
        raise InvalidSettings(str(path), exc.where, exc.problem, exc.fix) from None


def load_settings_file(path: str | Path, model: type[BaseModel]) -> Any:
    """Any changeflow settings file (environment, calendar, catalog, approvers) validated into ``model``."""
    try:
        return model.model_validate(_read_yaml(Path(path)) or {})
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"]) or "(document)"
        cause = first.get("ctx", {}).get("error")  # a validator's ValueError; a domain.checks.Refusal carries its fix
        message = str(cause) if isinstance(cause, ValueError) else first["msg"]
        fix = f"add '{first['loc'][-1]}'" if first["type"] == "missing" and first["loc"] else getattr(cause, "fix", "correct the value")
        raise InvalidSettings(str(path), field, message[:1].lower() + message[1:], fix) from None


def read_registry(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Public keys and one-time-code commitments from ``{approvers: {NAME: {ed25519, totp_sha256}}}`` (enrol writes it)."""
    from changeflow.domain.identity import person

    if not path.is_file():
        return {}, {}
    data = read_yaml(path) or {}
    entries = data.get("approvers") if isinstance(data, dict) else None
    if not isinstance(entries, dict) or not all(isinstance(e, dict) and isinstance(e.get("ed25519"), str) for e in entries.values()):
        raise InvalidSettings(str(path), "approvers", "is not a map of NAME: {ed25519: KEY}", "re-create it with `changeflow approvers enrol NAME`")
    keys = {person(str(name)): entry["ed25519"] for name, entry in entries.items()}
    codes = {person(str(name)): str(entry["totp_sha256"]) for name, entry in entries.items() if entry.get("totp_sha256")}
    return keys, codes


def load_governance(directory: str | Path, pinned: list[str] | None = None, **overrides: Any) -> "Governance":
    """Governance from the bundle in ``directory``: ``approvers.yaml``, ``catalog.yaml``, ``calendar.yaml``,
    (optional) ``verification.yaml``, ``drift.yaml`` and ``keys.yaml`` (approvers' and executors' public
    keys), sealed by a governance maintainer when the executor pins maintainer keys (``pinned``, default
    ``CHANGEFLOW_GOVERNANCE_KEYS``). Only an executor that pins none (a trial) also reads the enrolment
    registry (``CHANGEFLOW_APPROVER_KEYS``)."""
    from changeflow.domain.catalog import Catalog
    from changeflow.domain.comparison import Verification
    from changeflow.domain.policy import Approvers
    from changeflow.domain.windows import Calendar
    from changeflow.settings.defaults import approver_registry, governance_pins
    from changeflow.settings.governance import Governance, GovernanceSettings, bundle_settings

    folder = Path(directory)
    pins = governance_pins() if pinned is None else pinned
    bundle = bundle_settings(folder, pins)
    registered_keys, registered_codes = ({}, {}) if pins else read_registry(approver_registry())  # a trial also reads enrolments
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
        from changeflow.domain.drift import DriftPolicy

        overrides.setdefault("drift", load_settings_file(folder / "drift.yaml", DriftPolicy))
    return Governance(
        approvers=load_settings_file(folder / "approvers.yaml", Approvers),
        catalog=load_settings_file(folder / "catalog.yaml", Catalog),
        calendar=load_settings_file(folder / "calendar.yaml", Calendar),
        **overrides,
    )

"""YAML read the strict way, and settings files validated from it, every problem one line: file, field,
problem, fix. Only a regular file, of at most ``MAX_BYTES``, nested at most ``MAX_DEPTH`` levels, without
aliases, with no key given twice (PyYAML keeps the last one silently: a request saying ``to_version: 2``
and then ``to_version: 3`` would plan v3), with every number finite (no ``.nan``, ``.inf``).

The lowest room of ``settings``: change requests (``loader``), governance bundles (``bundle``) and the
executor's defaults (``defaults``) are all read through it.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from changeflow.domain.checks import first_non_finite
from changeflow.exceptions import InvalidSettings

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
            raise StrictYamlError(
                f"line {mark.line + 1}",
                f"nested deeper than {MAX_DEPTH} levels",
                "flatten it: a change request is a few levels deep",
            )
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise StrictYamlError(
                f"line {mark.line + 1}",
                "uses an alias (*name)",
                "write the value out: aliases can multiply a small file into a huge one",
            )
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
                raise StrictYamlError(
                    f"line {key_node.start_mark.line + 1}", "a key must be a plain name", "write 'field: value'"
                )
            if key in seen:
                raise StrictYamlError(
                    f"line {key_node.start_mark.line + 1}",
                    f"{shorten(repr(key))} is given twice (first on line {seen[key]})",
                    "keep one: YAML would silently use the last",
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _refuse_tag(loader, node):
    raise StrictYamlError(
        f"line {node.start_mark.line + 1}",
        f"the YAML type {node.tag} is not taken here",
        "write plain values: text, numbers, lists, mappings",
    )


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
        raise StrictYamlError(
            "(file)", f"cannot be read ({exc.__class__.__name__})", "pass a readable YAML file"
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise StrictYamlError("(file)", "is not a regular file", "pass a YAML file, not a folder, device or pipe")
    if info.st_size > MAX_BYTES:
        raise StrictYamlError(
            "(file)", f"is {info.st_size:,} bytes, over the {MAX_BYTES:,} a request may have", "pass the request itself"
        )
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            raise StrictYamlError(
                "(file)", f"is over the {MAX_BYTES:,} bytes a request may have", "pass the request itself"
            )
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise StrictYamlError("(file)", "is not UTF-8 text", "save it as UTF-8") from None
    except OSError as exc:
        raise StrictYamlError(
            "(file)", f"cannot be read ({exc.__class__.__name__})", "pass a readable YAML file"
        ) from None


def parse(text: str) -> Any:
    try:
        return _finite(yaml.load(text, Loader=_StrictLoader))  # noqa: S506 (a SafeLoader subclass)
    except StrictYamlError:
        raise
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(document)"
        raise StrictYamlError(
            where, f"not valid YAML: {getattr(exc, 'problem', None) or 'cannot be parsed'}", "fix the YAML syntax there"
        ) from None
    except RecursionError:
        raise StrictYamlError("(document)", f"nested deeper than {MAX_DEPTH} levels", "flatten it") from None
    except (ValueError, TypeError, OverflowError) as exc:  # a value YAML itself cannot construct, e.g. 2026-02-30
        raise StrictYamlError(
            "(document)",
            shorten(f"a value cannot be read: {exc}", 200),
            "write plain values (an ISO time with offset for times)",
        ) from None


def _finite(data: Any) -> Any:
    """``data`` if every number in it is finite (see ``domain.checks``)."""
    if found := first_non_finite(data):
        spelling = {"nan": ".nan", "inf": ".inf", "-inf": "-.inf"}[
            str(found[1])
        ]  # as YAML writes it (1.0e+400 reads as .inf)
        raise StrictYamlError(found[0], f"is not a finite number ({spelling})", "write a finite number")
    return data


def read_yaml(path: str | Path) -> Any:
    """A YAML file read the strict way (see the module docstring)."""
    return parse(read_text(Path(path)))


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
        fix = (
            f"add '{first['loc'][-1]}'"
            if first["type"] == "missing" and first["loc"]
            else getattr(cause, "fix", "correct the value")
        )
        raise InvalidSettings(str(path), field, message[:1].lower() + message[1:], fix) from None

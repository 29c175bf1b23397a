"""YAML read the strict way for anything a person hands changeflow: only a regular file, of bounded size,
nested to a bounded depth, without aliases, with no key given twice (PyYAML keeps the last one silently:
a request saying ``to_version: 2`` and then ``to_version: 3`` would plan v3). Every problem is one
``(where, problem, fix)``."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import yaml

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
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except StrictYamlError:
        raise
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(document)"
        raise StrictYamlError(where, f"not valid YAML: {getattr(exc, 'problem', None) or 'cannot be parsed'}", "fix the YAML syntax there") from None
    except RecursionError:
        raise StrictYamlError("(document)", f"nested deeper than {MAX_DEPTH} levels", "flatten it") from None


def load(path: str | Path) -> Any:
    return parse(read_text(Path(path)))

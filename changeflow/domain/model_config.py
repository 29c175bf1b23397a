"""Triton model config files as protobuf messages: parse, render, edit and compare them (pure: no I/O).
What a config change does to config.pbtxt; how the Triton API takes a config is ``adapters.triton``'s.

Uses ``tritonclient``'s ``model_config_pb2`` and protobuf's ``text_format`` / ``json_format``: no
hand-written parser, so whatever Triton accepts, we read the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from google.protobuf import json_format, text_format
from tritonclient.grpc.model_config_pb2 import ModelConfig

from changeflow.domain.golden import NUMPY_DTYPES, signature
from changeflow.exceptions import ConfigError

__all__ = [
    "ModelConfig",
    "parse_config",
    "render_config",
    "apply_settings",
    "setting_of",
    "differences",
    "sample_inputs",
    "with_versions",
]


def parse_config(text: str, source: str = "config.pbtxt") -> ModelConfig:
    """Parse config.pbtxt text; a ``ConfigError`` names the source, line and problem."""
    config = ModelConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as exc:
        raise ConfigError(f"{source}: not a valid Triton model config: {exc}") from None
    return config


def render_config(config: ModelConfig) -> str:
    return text_format.MessageToString(config)


def with_versions(config: ModelConfig, versions: Sequence[int]) -> ModelConfig:
    """A copy of ``config`` whose version policy serves exactly ``versions``: what a model deployment writes
    into the repository (the desired state a restarted server loads) and sends as the load's config."""
    if not versions:
        raise ConfigError("a version policy needs at least one version")
    copy = ModelConfig()
    copy.CopyFrom(config)
    copy.version_policy.Clear()
    copy.version_policy.specific.versions.extend(sorted(set(int(v) for v in versions)))
    return copy


def policy_versions(config: ModelConfig) -> list[int] | None:
    """The versions a ``specific`` version policy names; None for ``latest`` / ``all`` / no policy (the server
    then picks, e.g. the highest version on disk)."""
    if config.version_policy.WhichOneof("policy_choice") != "specific":
        return None
    return sorted(int(v) for v in config.version_policy.specific.versions)


def _resolve(config: ModelConfig, path: str, create: bool):
    """(message or map holding the last part, last part) for a dotted path; ``ConfigError`` names a bad part."""
    holder, parts, i = config, path.split("."), 0
    while i < len(parts) - 1:
        part = parts[i]
        field = holder.DESCRIPTOR.fields_by_name.get(part)
        if field is None or field.message_type is None:
            known = ", ".join(f.name for f in holder.DESCRIPTOR.fields if f.message_type is not None)
            raise ConfigError(f"{path}: '{part}' is not a message field of {holder.DESCRIPTOR.name}; known: {known}")
        value = getattr(holder, part)
        if field.message_type.GetOptions().map_entry:  # parameters.<key> -> the entry
            if i + 2 != len(parts):
                raise ConfigError(f"{path}: write a map entry as {'.'.join(parts[: i + 1])}.<key>")
            if parts[i + 1] not in value and not create:
                raise ConfigError(f"{path}: no entry '{parts[i + 1]}' in {part}")
            return value, parts[i + 1]
        if field.is_repeated:
            index = parts[i + 1] if i + 1 < len(parts) - 1 else ""
            if not index.isdigit() or int(index) >= len(value):
                raise ConfigError(
                    f"{path}: {part} has {len(value)} entries; write {part}.<index below {len(value)}>.<field>"
                )
            holder, i = value[int(index)], i + 2
            continue
        holder, i = value, i + 1
    return holder, parts[-1]


def setting_of(config: ModelConfig, path: str):
    """The value at a dotted path (a map entry reads as its string value)."""
    holder, last = _resolve(config, path, create=False)
    if not hasattr(holder, "DESCRIPTOR"):
        return holder[last].string_value
    if last not in holder.DESCRIPTOR.fields_by_name:
        raise ConfigError(f"{path}: no field '{last}' in {holder.DESCRIPTOR.name}")
    field = holder.DESCRIPTOR.fields_by_name[last]
    value = getattr(holder, last)
    return field.enum_type.values_by_number[value].name if field.enum_type else value


def apply_settings(config: ModelConfig, settings: dict[str, object]) -> ModelConfig:
    """A copy of ``config`` with each dotted path set; the original is untouched if any path is bad."""
    copy = ModelConfig()
    copy.CopyFrom(config)
    for path, value in settings.items():
        holder, last = _resolve(copy, path, create=True)
        if not hasattr(holder, "DESCRIPTOR"):  # a map such as parameters
            holder[last].string_value = str(value)
            continue
        field = holder.DESCRIPTOR.fields_by_name.get(last)
        if field is None or field.message_type is not None or field.is_repeated:
            known = ", ".join(f.name for f in holder.DESCRIPTOR.fields if f.message_type is None and not f.is_repeated)
            raise ConfigError(
                f"{path}: '{last}' is not a settable field of {holder.DESCRIPTOR.name}; settable: {known}"
            )
        try:
            if field.enum_type is not None:
                value = field.enum_type.values_by_name[str(value)].number
            setattr(holder, last, value)
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"{path}: {value!r} does not fit field {last} ({exc.__class__.__name__}: {exc})"
            ) from None
    return copy


def differences(mine, theirs, path: str = "") -> list[str]:
    """Fields set in ``mine`` whose value in ``theirs`` differs (``theirs`` may set more, e.g. defaults)."""
    found: list[str] = []
    for field, value in mine.ListFields():
        other = getattr(theirs, field.name)
        where = f"{path}.{field.name}" if path else field.name
        if field.message_type is None:
            if other != value:
                found.append(f"{where}: {other!r} != {value!r}")
        elif field.message_type.GetOptions().map_entry:
            for key in value:
                if key not in other:
                    found.append(f"{where}[{key}]: missing")
                elif hasattr(value[key], "ListFields"):
                    found += differences(value[key], other[key], f"{where}[{key}]")
                elif other[key] != value[key]:
                    found.append(f"{where}[{key}]: {other[key]!r} != {value[key]!r}")
        elif field.is_repeated:
            if len(other) != len(value):
                found.append(f"{where}: {len(other)} entries != {len(value)}")
                continue
            for i, (a, b) in enumerate(zip(value, other)):
                found += differences(a, b, f"{where}[{i}]")
        else:
            found += differences(value, other, where)
    return found


def sample_inputs(config: ModelConfig) -> dict[str, np.ndarray]:
    """Zero-filled (empty-string for BYTES) inputs, a batch of one when the model batches, for any model of
    this config: a smoke inference that needs no golden set."""
    sig = signature(config)
    inputs = {}
    for spec in sig.inputs:
        shape = [1] * sig.batching + [d if d > 0 else 1 for d in spec.dims]
        inputs[spec.name] = (
            np.full(shape, b"", dtype=object)
            if spec.datatype == "BYTES"
            else np.zeros(shape, dtype=NUMPY_DTYPES[spec.datatype])
        )
    return inputs


def config_from_dict(data: dict[str, Any], source: str = "server") -> ModelConfig:
    """A config as Triton's API returns it (JSON), as the protobuf message the rest of changeflow reads."""
    config = ModelConfig()
    try:
        json_format.ParseDict(data, config, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise ConfigError(f"{source}: model config JSON does not parse: {exc}") from None
    return config

"""Tensors as golden sets write them, read into numpy: nested JSON lists of a Triton datatype (BYTES as
UTF-8 strings or ``{"b64": …}``), integers range-checked, floats finite. Apart from ``golden`` so that
reading one tensor and binding a golden set to a model are read (and sized) separately.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

import ml_dtypes  # numpy's bfloat16, as tritonclient carries BF16
import numpy as np

NUMPY_DTYPES: dict[str, np.dtype] = {
    name: np.dtype(kind)
    for name, kind in {
        "BOOL": "bool",
        "UINT8": "uint8",
        "UINT16": "uint16",
        "UINT32": "uint32",
        "UINT64": "uint64",
        "INT8": "int8",
        "INT16": "int16",
        "INT32": "int32",
        "INT64": "int64",
        "FP16": "float16",
        "FP32": "float32",
        "FP64": "float64",
        "BF16": ml_dtypes.bfloat16,
        "BYTES": "object",
    }.items()
}
Datatype = Literal[
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BF16",
    "BYTES",
]
FLOATS = {"FP16", "FP32", "FP64", "BF16"}
MAX_TENSOR_DEPTH = 16


def _to_bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, dict) and set(value) == {"b64"}:
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (TypeError, ValueError):
            raise ValueError('a {"b64": …} element must hold base64 text') from None
    raise ValueError(f'a BYTES element must be a string or {{"b64": …}}, not {type(value).__name__}')


def _leaves(value: Any, depth: int = 0) -> list:
    """Every non-list element, refusing a nesting deeper than ``MAX_TENSOR_DEPTH``."""
    if depth > MAX_TENSOR_DEPTH:
        raise ValueError(f"nested deeper than {MAX_TENSOR_DEPTH} dimensions")
    return [leaf for item in value for leaf in _leaves(item, depth + 1)] if isinstance(value, list) else [value]


def _shape(value: Any) -> tuple[int, ...]:
    """The shape of a rectangular nested list; a ragged one raises."""
    if not isinstance(value, list):
        return ()
    shapes = {_shape(item) for item in value}
    if len(shapes) > 1:
        raise ValueError("rows of unequal length (a tensor is a rectangular array)")
    return (len(value), *(shapes.pop() if shapes else ()))


def decode_tensor(value: Any, datatype: str) -> np.ndarray:
    """JSON (nested lists) → a numpy array of the datatype's numpy type; raises ValueError on a misfit.
    Integers are range-checked as Python integers (never through floats); floats must be finite, and stay so."""
    leaves, shape = _leaves(value), _shape(value)
    if datatype == "BYTES":
        array = np.empty(len(leaves), dtype=object)
        array[:] = [_to_bytes(leaf) for leaf in leaves]
        return array.reshape(shape)
    if datatype == "BOOL":
        if not all(isinstance(v, bool) for v in leaves):
            raise ValueError("a BOOL tensor takes true / false")
        return np.array(leaves, dtype=bool).reshape(shape)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in leaves):
        raise ValueError(f"a {datatype} tensor takes numbers")
    target = NUMPY_DTYPES[datatype]
    if datatype not in FLOATS:
        if not all(isinstance(v, int) or float(v).is_integer() for v in leaves):
            raise ValueError(f"fractions given for an integer {datatype} tensor")
        numbers = [int(v) for v in leaves]
        info = np.iinfo(target)
        if numbers and (min(numbers) < info.min or max(numbers) > info.max):
            raise ValueError(f"values outside {datatype}'s range {info.min}…{info.max}")
        return np.array(numbers, dtype=target).reshape(shape)
    try:
        source = np.array(leaves, dtype=np.float64)
    except OverflowError:
        raise ValueError("a number too large for a float") from None
    if not np.all(np.isfinite(source)):
        raise ValueError("NaN or infinity given (a golden set holds finite numbers)")
    with np.errstate(over="ignore"):
        array = source.astype(target)
    if np.any(np.isfinite(source) & ~np.isfinite(array.astype(np.float64))):
        raise ValueError(f"values beyond what {datatype} can hold")
    return array.reshape(shape)

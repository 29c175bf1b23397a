"""Building and checking golden sets from the command line (``changeflow golden capture | check``): read the
cases' inputs, ask the version that serves today, write what it answered."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np

from changeflow.domain.checks import first_non_finite
from changeflow.domain.golden import MAX_CASES, GoldenCase, GoldenSet, ModelSignature, TensorDecl, bind, signature
from changeflow.domain.verdicts import Verdict, assess_golden
from changeflow.exceptions import GoldenSetMismatch, InvalidChangeRequest
from changeflow.ports import ModelServer
from changeflow.services.verification import (
    MAX_BYTES,
    TOO_BIG,
    load_golden,
    observe_golden,
    read_file_bytes,
    read_json_file,
)


def encode_tensor(array: np.ndarray) -> Any:
    """A numpy array (an answer from the server) → JSON: nested lists; bytes as UTF-8 strings or base64."""
    if array.dtype == object or array.dtype.kind == "S":

        def convert(item):
            if isinstance(item, list):
                return [convert(i) for i in item]
            raw = item if isinstance(item, bytes) else str(item).encode("utf-8")
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                return {"b64": base64.b64encode(raw).decode("ascii")}

        return convert(array.tolist())
    return array.tolist()


def typed_file(path: str | Path, option: str) -> Path:
    """A file named on the command line, read from the working directory as every command reads one (a request's
    golden set is read from the request file's folder instead); a missing one is refused here, so that the hint
    says where it was looked for."""
    file = Path(path).absolute()
    if not file.exists():
        raise InvalidChangeRequest(
            str(file), option, "does not exist", "check the path (a relative path is read from the working directory)"
        )
    return file


def read_inputs(path: Path) -> list[dict[str, Any]]:
    """Cases' inputs for a capture: JSON (a list of {name: tensor} or {"cases": […]}) or .npz (first axis = case).
    A relative path is the caller's (the working directory), not the governance folder's."""
    path = typed_file(path, "--inputs")
    if path.suffix == ".npz":
        raw = read_file_bytes(path, "--inputs")  # a regular file within the golden sets' size cap
        try:
            with np.load(io.BytesIO(raw), allow_pickle=False) as arrays:
                if (
                    unpacked := sum(member.file_size for member in arrays.zip.infolist())
                ) > MAX_BYTES:  # a small zip can unpack to gigabytes
                    raise InvalidChangeRequest(
                        str(path),
                        "--inputs",
                        f"unpacks to {unpacked:,} bytes, over the {MAX_BYTES // 2**20} MiB cap",
                        TOO_BIG,
                    )
                named = {name: arrays[name] for name in arrays.files}
        except (OSError, ValueError) as exc:
            raise InvalidChangeRequest(
                str(path),
                "--inputs",
                f"is not a readable .npz ({exc})",
                "write it with numpy.savez(path, INPUT_NAME=array)",
            ) from None
        counts = {len(a) for a in named.values()}
        if len(counts) != 1:
            raise InvalidChangeRequest(
                str(path),
                "--inputs",
                f"arrays hold different numbers of cases ({sorted(counts)})",
                "give every input the same first dimension",
            )
        count = _capped(path, counts.pop())
        return [{name: encode_tensor(array[i]) for name, array in named.items()} for i in range(count)]
    data = read_json_file(path, "--inputs")
    cases = data.get("cases") if isinstance(data, dict) else data
    if not isinstance(cases, list) or not cases or not all(isinstance(c, dict) for c in cases):
        raise InvalidChangeRequest(
            str(path), "--inputs", "holds no cases", 'write [{"INPUT_NAME": tensor, …}, …] or {"cases": [...]}'
        )
    _capped(path, len(cases))
    return [c.get("inputs", c) if set(c) <= {"name", "inputs"} else c for c in cases]


def _capped(path: Path, cases: int) -> int:
    """``cases``, unless more than a golden set may hold: the capture would write a file no change could use."""
    if cases > MAX_CASES:
        raise InvalidChangeRequest(
            str(path),
            "--inputs",
            f"holds {cases:,} cases, over the cap of {MAX_CASES:,} a golden set may hold",
            TOO_BIG,
        )
    return cases


def capture_golden(
    server: ModelServer, model: str, version: int | None, inputs: list[dict[str, Any]], description: str = ""
) -> GoldenSet:
    """A golden set whose expectations are what ``version`` (default: the serving one) answers for ``inputs``
    (a decoupled model's: every response of its stream, in order)."""
    sig = signature(server.model_config(model))
    everything_skipped = {spec.name: {"compare": "skip"} for spec in sig.outputs}
    probe = bind(GoldenSet(model=model, compare=everything_skipped, cases=[GoldenCase(inputs=i) for i in inputs]), sig)
    cases = []
    for given, request in zip(inputs, probe.requests):
        answer = server.infer(model, request, version=version, datatypes=probe.datatypes)
        per_sample = sig.batching and all(
            np.asarray(given[n], dtype=object).ndim == len(s.dims) for s in sig.inputs if (n := s.name) in given
        )
        expected = {name: _expected(array, sig, per_sample) for name, array in answer.outputs.items()}
        if found := first_non_finite(expected):
            raise GoldenSetMismatch(
                f"golden set for {model}",
                f"cases[{len(cases)}].expected.{found[0]}",
                f"the model answered {found[1]} (a golden set holds finite numbers)",
                "capture from inputs the model answers with finite numbers, or fix the model",
            )
        cases.append(GoldenCase(inputs=given, expected=expected))
    served = f"v{version}" if version else "the serving version"
    return GoldenSet(
        model=model,
        description=description or f"{len(cases)} cases captured from {model} {served} by changeflow golden capture",
        inputs={s.name: TensorDecl(datatype=s.datatype, shape=list(s.dims)) for s in sig.inputs},
        outputs={s.name: TensorDecl(datatype=s.datatype, shape=list(s.dims)) for s in sig.outputs},
        cases=cases,
    )


def _expected(array: np.ndarray, sig: ModelSignature, per_sample: bool) -> Any:
    """An answer as a golden case expects it: one tensor, or for a decoupled model the list of its responses
    (the server stacks them on a leading axis; a golden set writes each response as the model's dims say)."""
    if sig.decoupled:
        return [encode_tensor(response[0] if per_sample else response) for response in array]
    return encode_tensor(array[0] if per_sample else array)


def check_golden(server: ModelServer, path: str | Path, model: str | None, version: int | None) -> Verdict:
    golden = load_golden(typed_file(path, "FILE"), "FILE")
    if model and model != golden.model:
        golden = golden.model_copy(update={"model": model})
    bound = bind(golden, signature(server.model_config(golden.model)))
    return assess_golden(bound, observe_golden(server, bound, version))

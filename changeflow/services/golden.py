"""Golden sets against live servers: read one, bind it to the model's config on a server, capture one from
the version that serves today, check one.

Reading is strict (a regular file, bounded size, valid JSON and schema) and every problem is one
``InvalidChangeRequest`` line naming the field; binding raises ``GoldenSetMismatch`` naming the case and
tensor. A relative path is read against the governance folder (a request file's own paths are made
absolute by the loader).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from changeflow.domain.golden import BoundGolden, GoldenCase, GoldenSet, TensorDecl, bind, encode_tensor
from changeflow.domain.model_config import signature
from changeflow.domain.verdicts import Verdict
from changeflow.exceptions import GoldenSetMismatch, InvalidChangeRequest
from changeflow.ports import ModelServer

MAX_BYTES = 64 * 1024 * 1024


def golden_path(path: str | Path) -> Path:
    from changeflow.settings.defaults import governance_dir

    return Path(path) if Path(path).is_absolute() else governance_dir() / path


def read_json_file(path: str | Path, field: str, source: str | None = None) -> Any:
    """A regular file of bounded size holding JSON; anything else is one line naming ``field`` (of
    ``source``, the file that names this one, when there is one)."""
    file = golden_path(path)
    where, what = (source, f"{path} ") if source else (str(path), "")
    if not file.exists():
        raise InvalidChangeRequest(where, field, f"{what}does not exist", "check the path (relative paths are read from the request file's folder)")
    if not file.is_file():
        raise InvalidChangeRequest(where, field, f"{what}is not a regular file", "name a golden-set JSON file")
    if file.stat().st_size > MAX_BYTES:
        raise InvalidChangeRequest(where, field, f"{what}is larger than {MAX_BYTES // 2**20} MiB", "keep golden sets small: a few dozen cases")
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidChangeRequest(where, field, f"{what}cannot be read ({exc.__class__.__name__})", "make it a readable UTF-8 file") from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InvalidChangeRequest(where, field, f"{what}is not valid JSON ({exc})"[:300], "fix the JSON, or write it with `changeflow golden capture`") from None


def load_golden(path: str | Path, field: str = "golden_set", source: str | None = None) -> GoldenSet:
    data = read_json_file(path, field, source)
    try:
        return GoldenSet.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(map(str, first["loc"])) or "(document)"
        problem = f"{path}: {where}: " if source else f"{where}: "
        raise InvalidChangeRequest(source or str(path), field, problem + first["msg"][0].lower() + first["msg"][1:], "see the golden set format in README.md") from None


DIGEST = "golden_set.sha256"  # the record attachment: the golden set the approvers saw


def golden_digest(path: str | Path) -> str:
    """SHA-256 of the golden set file's bytes: what binds an approval to how the candidate is judged."""
    return hashlib.sha256(golden_path(path).read_bytes()).hexdigest()


def bound_golden(server: ModelServer, path: str | Path, approved_digest: str | None = None) -> BoundGolden:
    """The golden set checked against the model's config as ``server`` serves it; with ``approved_digest``,
    a file changed since the change was approved is refused (judging is part of what was approved)."""
    if approved_digest is not None and (now := golden_digest(path)) != approved_digest:
        raise GoldenSetMismatch(str(path), "sha256", f"changed since the change was approved ({now[:12]} != approved {approved_digest[:12]})",
                                "submit the change again so the approvers see the golden set it is judged by")
    golden = load_golden(path)
    return bind(golden, signature(server.model_config(golden.model)))


def read_inputs(path: Path) -> list[dict[str, Any]]:
    """Cases' inputs for a capture: JSON (a list of {name: tensor} or {"cases": […]}) or .npz (first axis = case)."""
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as arrays:
                named = {name: arrays[name] for name in arrays.files}
        except (OSError, ValueError) as exc:
            raise InvalidChangeRequest(str(path), "--inputs", f"is not a readable .npz ({exc})", "write it with numpy.savez(path, INPUT_NAME=array)") from None
        counts = {len(a) for a in named.values()}
        if len(counts) != 1:
            raise InvalidChangeRequest(str(path), "--inputs", f"arrays hold different numbers of cases ({sorted(counts)})", "give every input the same first dimension")
        return [{name: encode_tensor(array[i]) for name, array in named.items()} for i in range(counts.pop())]
    data = read_json_file(path, "--inputs")
    cases = data.get("cases") if isinstance(data, dict) else data
    if not isinstance(cases, list) or not cases or not all(isinstance(c, dict) for c in cases):
        raise InvalidChangeRequest(str(path), "--inputs", "holds no cases", 'write [{"INPUT_NAME": tensor, …}, …] or {"cases": [...]}')
    return [c.get("inputs", c) if set(c) <= {"name", "inputs"} else c for c in cases]


def capture_golden(server: ModelServer, model: str, version: int | None, inputs: list[dict[str, Any]], description: str = "") -> GoldenSet:
    """A golden set whose expectations are what ``version`` (default: the serving one) answers for ``inputs``."""
    sig = signature(server.model_config(model))
    everything_skipped = {spec.name: {"compare": "skip"} for spec in sig.outputs}
    probe = bind(GoldenSet(model=model, compare=everything_skipped, cases=[GoldenCase(inputs=i) for i in inputs]), sig)
    cases = []
    for given, request in zip(inputs, probe.requests):
        answer = server.infer(model, request, version=version, datatypes=probe.datatypes)
        per_sample = sig.batching and all(np.asarray(given[n], dtype=object).ndim == len(s.dims) for s in sig.inputs if (n := s.name) in given)
        expected = {name: encode_tensor(array[0] if per_sample else array) for name, array in answer.outputs.items()}
        cases.append(GoldenCase(inputs=given, expected=expected))
    served = f"v{version}" if version else "the serving version"
    return GoldenSet(
        model=model,
        description=description or f"{len(cases)} cases captured from {model} {served} by changeflow golden capture",
        inputs={s.name: TensorDecl(datatype=s.datatype, shape=list(s.dims)) for s in sig.inputs},
        outputs={s.name: TensorDecl(datatype=s.datatype, shape=list(s.dims)) for s in sig.outputs},
        cases=cases,
    )


def check_golden(server: ModelServer, path: str | Path, model: str | None, version: int | None) -> Verdict:
    from changeflow.domain.verdicts import assess_golden
    from changeflow.services.verification import observe_golden

    golden = load_golden(path, "FILE")
    if model and model != golden.model:
        golden = golden.model_copy(update={"model": model})
    bound = bind(golden, signature(server.model_config(golden.model)))
    return assess_golden(bound, observe_golden(server, bound, version))


def check_request_golden(request, server: ModelServer | None, source: str = "change request") -> list[str]:
    """Before anything runs: the request's golden set (if its kind has one) must be a readable golden set
    of the request's model, and fit the model's config on ``server`` when one answers. Problems raise one
    line naming ``change.golden_set``; what could not be checked comes back as warnings."""
    from changeflow.exceptions import GoldenSetMismatch, ServerError
    from changeflow.kinds import kind_of

    path = kind_of(request).golden_set(request.change)
    if path is None:
        return []
    golden = load_golden(path, "change.golden_set", source)
    if golden.model != request.model:
        raise InvalidChangeRequest(source, "change.golden_set", f"{path} is the golden set of {golden.model!r}, not of {request.model!r}",
                                   "name the golden set of the model this change deploys")
    if server is None:
        return [f"golden set {path} not checked against the live model: no environment file names a server (pass --environment)"]
    try:
        live = signature(server.model_config(request.model))
    except ServerError as exc:
        return [f"golden set {path} not checked against the live model: {exc}"]
    try:
        bind(golden, live)
    except GoldenSetMismatch as exc:
        raise GoldenSetMismatch(source, "change.golden_set", f"{path}: {exc.field}: {exc.problem}", exc.fix) from None
    return []

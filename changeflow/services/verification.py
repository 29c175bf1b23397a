"""How a version is checked on a live server: golden sets read strictly and bound to the model's config
as the server serves it, golden requests (validation, smoke tests, probes; the bake is in ``bake``).
Nothing here knows a tensor's name, datatype or shape.

Reading is strict (a regular file of at most ``MAX_BYTES``, valid JSON with finite numbers only, at most
``domain.golden.MAX_CASES`` cases, the schema); every problem is one ``InvalidChangeRequest`` line naming
the field, and binding raises ``GoldenSetMismatch`` naming the case and tensor. A relative path is read
against the governance folder (a request file's own paths are made absolute by the loader).

I/O through the ports only; the verdicts come from ``domain.verdicts``.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from changeflow.domain.checks import first_non_finite
from changeflow.domain.golden import MAX_CASES, BoundGolden, GoldenSet, bind, signature
from changeflow.domain.verdicts import CaseObservation, Outcome, Verdict, case_problems
from changeflow.exceptions import GoldenSetMismatch, InferenceError, InvalidChangeRequest
from changeflow.ports import MetricSource, ModelServer

MAX_BYTES = 16 * 1024 * 1024  # the shipped golden sets are under 20 KB; 16 MiB holds MAX_CASES cases of ~1.6 KB each
TOO_BIG = f"keep golden sets small (a few dozen cases; at most {MAX_BYTES // 2**20} MiB and {MAX_CASES:,} cases): test behaviour, not a data set"


RELATIVE_HINT = (
    "check the path: in a run (the Prefect UI, the API) a relative path is read in the governance folder, "
    "e.g. golden/MODEL.json; in a request file, from that file's folder"
)


def golden_path(path: str | Path) -> Path:
    """Where a golden set is read: a relative path in the governance folder (a request file's own relative
    paths were made absolute by the loader)."""
    from changeflow.settings.defaults import governance_dir

    return Path(path) if Path(path).is_absolute() else governance_dir() / path


def read_file_bytes(path: str | Path, field: str, source: str | None = None) -> bytes:
    """A regular file's bytes, at most ``MAX_BYTES``; anything else is one line naming ``field`` (of
    ``source``, the file that names this one, when there is one)."""
    file = golden_path(path)
    where, what = (source, f"{path} ") if source else (str(path), "")
    if not file.exists():
        shown = f" ({file})" if str(file) != str(path) else ""
        raise InvalidChangeRequest(where, field, f"{what}does not exist{shown}", RELATIVE_HINT)
    if not file.is_file():
        raise InvalidChangeRequest(where, field, f"{what}is not a regular file", "name a golden-set JSON file")
    try:
        if (
            size := file.stat().st_size
        ) > MAX_BYTES:  # refused before a byte is read; the bounded read below catches a file that grows
            raise InvalidChangeRequest(
                where, field, f"{what}is {size:,} bytes, over the {MAX_BYTES // 2**20} MiB cap", TOO_BIG
            )
        with file.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InvalidChangeRequest(
            where, field, f"{what}cannot be read ({exc.__class__.__name__})", "make it a readable file"
        ) from None
    if len(raw) > MAX_BYTES:
        raise InvalidChangeRequest(where, field, f"{what}is larger than the {MAX_BYTES // 2**20} MiB cap", TOO_BIG)
    return raw


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"the key {next(k for k in keys if keys.count(k) > 1)!r} is given twice")
    return dict(pairs)


def parse_json(raw: bytes, path: str | Path, field: str, source: str | None = None) -> Any:
    """JSON with finite numbers only: Python's ``json`` takes ``NaN`` and ``Infinity`` and reads ``1e400`` as
    infinity; each is refused naming its path (see ``domain.checks``)."""
    where, what = (source, f"{path} ") if source else (str(path), "")
    non_finite: list[str] = []

    def number(text: str) -> float:
        if not math.isfinite(value := float(text)):
            non_finite.append(text)
        return value

    try:
        data = json.loads(
            raw.decode("utf-8"), object_pairs_hook=_no_duplicate_keys, parse_float=number, parse_constant=number
        )
        if non_finite:  # walked only then, to name the path
            at = (first_non_finite(data) or ("(document)",))[0]
            raise InvalidChangeRequest(
                where,
                field,
                f"{f'{path}: ' if source else ''}{at}: is not a finite number ({non_finite[0][:40]})",
                "write a finite number (JSON has no NaN or Infinity)",
            )
        return data
    except UnicodeDecodeError:
        raise InvalidChangeRequest(where, field, f"{what}is not UTF-8 text", "save it as UTF-8") from None
    except (
        ValueError,
        RecursionError,
    ) as exc:  # JSONDecodeError is a ValueError, as are duplicate keys and huge numbers
        raise InvalidChangeRequest(
            where,
            field,
            f"{what}is not valid JSON ({exc})"[:300],
            "fix the JSON, or write it with `changeflow golden capture`",
        ) from None


def read_json_file(path: str | Path, field: str, source: str | None = None) -> Any:
    return parse_json(read_file_bytes(path, field, source), path, field, source)


def load_golden(
    path: str | Path, field: str = "golden_set", source: str | None = None, raw: bytes | None = None
) -> GoldenSet:
    """A golden set file (or its ``raw`` bytes, already read) validated; one line naming the field otherwise."""
    data = parse_json(raw, path, field, source) if raw is not None else read_json_file(path, field, source)
    cases = data.get("cases") if isinstance(data, dict) else None
    if isinstance(cases, list) and len(cases) > MAX_CASES:
        where, what = (source, f"{path}: ") if source else (str(path), "")
        raise InvalidChangeRequest(
            where, field, f"{what}cases: {len(cases):,} cases, over the cap of {MAX_CASES:,}", TOO_BIG
        )
    try:
        return GoldenSet.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(map(str, first["loc"])) or "(document)"
        problem = f"{path}: {where}: " if source else f"{where}: "
        raise InvalidChangeRequest(
            source or str(path),
            field,
            problem + first["msg"][0].lower() + first["msg"][1:],
            "see the golden set format in docs/engineers.md (Golden sets)",
        ) from None


DIGEST = "golden_set.sha256"  # the record attachment: the golden set the approvers saw


def golden_digest(path: str | Path) -> str:
    """SHA-256 of the golden set file's bytes: what binds an approval to how the candidate is judged."""
    return hashlib.sha256(read_file_bytes(path, "golden_set")).hexdigest()


def bound_golden(server: ModelServer, path: str | Path, approved_digest: str | None = None) -> BoundGolden:
    """The golden set checked against the model's config as ``server`` serves it; with ``approved_digest``,
    a file changed since the change was approved is refused (judging is part of what was approved). The
    bytes hashed are the bytes used: the file is read once."""
    raw = read_file_bytes(path, "golden_set")
    if approved_digest is not None and (now := hashlib.sha256(raw).hexdigest()) != approved_digest:
        raise GoldenSetMismatch(
            str(path),
            "sha256",
            f"changed since the change was approved ({now[:12]} != approved {approved_digest[:12]})",
            "submit the change again so the approvers see the golden set it is judged by",
        )
    golden = load_golden(path, raw=raw)
    return bind(golden, signature(server.model_config(golden.model)))


def require_golden_root(path: str, source: str) -> None:
    """Refuse a golden set outside ``settings.defaults.golden_roots()`` (symlinks and ``..`` resolved)."""
    from changeflow.settings.defaults import golden_roots

    roots = [root.resolve() for root in golden_roots()]
    resolved = golden_path(path).resolve()  # a relative path is the governance folder's, not the worker's cwd
    if not any(resolved.is_relative_to(root) for root in roots):
        shown = path if len(path) <= 120 else path[:117] + "..."
        raise InvalidChangeRequest(
            source,
            "change.golden_set",
            f"{shown} is outside the folders golden sets may come from ({', '.join(map(str, roots))})",
            "keep golden sets in the governance folder (CHANGEFLOW_GOVERNANCE), or add their folder to CHANGEFLOW_GOLDEN_ROOTS",
        )


def check_request_golden(request, server: ModelServer | None, source: str = "change request") -> list[str]:
    """Before anything runs: the request's golden set (if its kind has one) must be a readable golden set
    of the request's model, and fit the model's config on ``server`` when one answers. Problems raise one
    line naming ``change.golden_set``; what could not be checked comes back as warnings."""
    from changeflow.exceptions import GoldenSetMismatch, ServerError
    from changeflow.kinds import kind_of

    path = kind_of(request).golden_set(request.change)
    if path is None:
        return []
    require_golden_root(path, source)
    golden = load_golden(path, "change.golden_set", source)
    if golden.model != request.model:
        raise InvalidChangeRequest(
            source,
            "change.golden_set",
            f"{path} is the golden set of {golden.model!r}, not of {request.model!r}",
            "name the golden set of the model this change deploys",
        )
    if server is None:
        return [
            f"golden set {path} not checked against the live model: no environment file names a server (pass --environment)"
        ]
    try:
        live = signature(server.model_config(request.model))
    except ServerError as exc:
        return [f"golden set {path} not checked against the live model: {exc}"]
    try:
        bind(golden, live)
    except GoldenSetMismatch as exc:
        raise GoldenSetMismatch(source, "change.golden_set", f"{path}: {exc.field}: {exc.problem}", exc.fix) from None
    return []


def observe_case(
    server: ModelServer, golden: BoundGolden, index: int, version: int | None = None
) -> tuple[CaseObservation, int | None]:
    """One golden case sent once: what came back (an error answer is observed) and which version answered."""
    try:
        result = server.infer(golden.model, golden.requests[index], version=version, datatypes=golden.datatypes)
    except InferenceError as exc:
        return CaseObservation(error=str(exc)), None
    stream = result.stream
    observed = CaseObservation(
        outputs=dict(result.outputs),
        latency_ms=result.latency_ms,
        server=result.server,
        streamed=stream is not None,
        gaps_ms=stream.gaps_ms if stream is not None else (),
    )
    return observed, result.model_version


def observe_golden(server: ModelServer, golden: BoundGolden, version: int | None = None) -> list[CaseObservation]:
    """Each golden case sent once; a request the server answers with an error is observed, not raised.

    Connection failures (``ServerUnavailable``) do raise: they are an error measuring, not a model fault.
    """
    return [observe_case(server, golden, index, version)[0] for index in range(len(golden))]


def probe(
    server: ModelServer, golden: BoundGolden, count: int, expect_version: int | None, offset: int = 0
) -> tuple[int, str]:
    """Send ``count`` golden requests unversioned; (failures, first problem) as clients see them.

    With ``expect_version``, an answer from another version is a failure too.
    """
    failures, first = 0, ""
    for i in range(count):
        index = (offset + i) % len(golden)
        seen, answered_by = observe_case(server, golden, index)
        problems = case_problems(golden, index, seen)
        if not problems and expect_version is not None and answered_by != expect_version:
            problems = [f"case {index}: answered by v{answered_by}, expected v{expect_version}"]
        if problems:
            failures += 1
            first = first or problems[0] + replica_of(server, seen)
    return failures, first


def replica_of(server: ModelServer, seen: CaseObservation) -> str:
    """ " (answered by triton-1)" when one replica of a fleet answered: a fault of that replica alone names it."""
    return f" (answered by {seen.server})" if seen.server and seen.server != server.name else ""


def smoke_verdict(server: ModelServer, golden: BoundGolden, count: int, version: int | None, target: str) -> Verdict:
    failures, problem = probe(server, golden, count, version)
    if failures:
        return Verdict(outcome=Outcome.FAIL, reason=f"{failures} of {count} smoke requests failed: {problem}")
    by = f" by v{version}" if version is not None else ""
    return Verdict(outcome=Outcome.PASS, reason=f"{count} of {count} smoke requests to {target} answered right{by}")


def request_rate(
    metrics: MetricSource, model: str, window_s: float = 1.0, sleep: Callable[[float], None] = time.sleep
) -> float:
    """Requests per second to all versions of ``model`` over ``window_s``, from two scrapes."""
    first = metrics.scrape()
    sleep(window_s)
    second = metrics.scrape()

    def total(snapshot):
        return sum(c.requests for c in snapshot.counters if c.model == model)

    elapsed = max(second.taken_at - first.taken_at, 1e-6)
    return max(0.0, total(second) - total(first)) / elapsed

"""Golden sets for any model Triton serves: named input tensors, the outputs expected for them, and how
each output is compared. Datatypes and shapes come from the model's config (``ModelSignature``): ``bind``
checks a golden set against it, naming the case and tensor of any misfit, and turns it into requests and
expected arrays (``golden_tensors`` reads each tensor); ``domain.verdicts`` judges the answers. Every output is compared — integers, BOOL and
BYTES exactly, floats within ``DEFAULT_TOLERANCE`` unless ``compare`` says otherwise — or skipped by name.
Tensors in JSON are nested lists (BYTES as UTF-8 strings or ``{"b64": …}``); a case holds one sample (a
batch of one is added for a batching model) or, for a batching model, a whole batch.

A decoupled model answers one request with a stream of responses: a case expects, per output, the list of
its responses (each a tensor as above, shaped by the output's dims), bound stacked on a new leading axis as
the model server answers them; a BYTES output may be judged as its joined text instead (``golden_text``).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from changeflow.domain.golden_tensors import FLOATS, Datatype, decode_tensor
from changeflow.domain.golden_tensors import NUMPY_DTYPES as NUMPY_DTYPES  # where model_config reads it
from changeflow.domain.golden_text import TextMode, text_rule_problem
from changeflow.domain.stream_budgets import unusable_budgets
from changeflow.exceptions import GoldenSetMismatch

if TYPE_CHECKING:
    from tritonclient.grpc.model_config_pb2 import ModelConfig

FIX = "make the case match the model's config (`changeflow golden capture` writes a golden set that does)"

DEFAULT_TOLERANCE: dict[str, tuple[float, float]] = {
    "FP64": (1e-5, 1e-6),
    "FP32": (1e-5, 1e-6),
    "FP16": (1e-3, 1e-3),
    "BF16": (1e-2, 1e-2),
}
MAX_CASES = (
    10_000  # a golden set runs in staging and feeds the bake's probes: 10,000 cases is minutes of work, not a data set
)


class TensorSpec(BaseModel, frozen=True):
    """One input or output as the model's config declares it; ``dims`` exclude the batch dimension, -1 is any."""

    name: str
    datatype: Datatype
    dims: tuple[int, ...]
    optional: bool = False


class ModelSignature(BaseModel, frozen=True):
    """``decoupled``: the model streams (its config's ``model_transaction_policy``), so each output is
    expected and answered as a stream of responses stacked on a leading axis."""

    model: str
    max_batch_size: int = 0
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    decoupled: bool = False

    @property
    def batching(self) -> bool:
        return self.max_batch_size > 0


class Compare(StrEnum):
    CLOSE = "close"
    EXACT = "exact"
    SKIP = "skip"


class OutputRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    compare: Compare | None = Field(
        None, description="close (floats' default), exact (everything else's default) or skip"
    )
    rtol: float | None = Field(None, ge=0)
    atol: float | None = Field(None, ge=0)
    text: TextMode | None = Field(
        None, description="a decoupled model's BYTES output judged as its joined text: exact, prefix or similar"
    )
    min_tokens: int | None = Field(None, ge=1, strict=True, description="text: prefix: leading responses to match")
    min_similarity: float | None = Field(None, gt=0, le=1, description="text: similar: the least similarity passing")

    @model_validator(mode="after")
    def _text_rule_complete(self) -> OutputRule:
        given = self.compare is not None or self.rtol is not None or self.atol is not None
        if problem := text_rule_problem(self.text, self.min_tokens, self.min_similarity, given):
            raise ValueError(problem)  # its fix is in the problem: load_golden names the field, not the fix
        return self


class TensorDecl(BaseModel):
    """What a golden file may say of a tensor; checked against the live config when it does."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    datatype: Datatype | None = None
    shape: list[int] | None = None


class GoldenCase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = ""
    inputs: dict[str, Any] = Field(min_length=1)
    expected: dict[str, Any] = Field(default_factory=dict)


class GoldenSet(BaseModel):
    """Finite numbers only (a NaN tolerance or budget would pass everything) and at most ``MAX_CASES`` cases."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    model: str
    description: str = ""
    inputs: dict[str, TensorDecl] = Field(default_factory=dict)
    outputs: dict[str, TensorDecl] = Field(default_factory=dict)
    compare: dict[str, OutputRule] = Field(default_factory=dict)
    latency_budget_ms: dict[Literal["p95", "first_response_p95", "gap_p95"], Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict
    )
    cases: list[GoldenCase] = Field(min_length=1, max_length=MAX_CASES)


def datatype_name(data_type: int) -> str:
    """Triton's datatype name (``FP32``, ``BYTES``) for a config's ``TYPE_*`` enum value."""
    from tritonclient.grpc.model_config_pb2 import DataType

    return DataType.Name(data_type).removeprefix("TYPE_").replace("STRING", "BYTES")


def signature(config: ModelConfig) -> ModelSignature:
    """The model's inputs and outputs as its config declares them: what a golden set is checked against.
    (Decoupled is read as ``streams.is_decoupled`` reads it; importing that would close a cycle through
    ``verdicts``.)"""
    return ModelSignature(
        model=config.name,
        max_batch_size=config.max_batch_size,
        decoupled=bool(config.model_transaction_policy.decoupled),
        inputs=tuple(
            TensorSpec(name=i.name, datatype=datatype_name(i.data_type), dims=tuple(i.dims), optional=i.optional)
            for i in config.input
        ),
        outputs=tuple(
            TensorSpec(name=o.name, datatype=datatype_name(o.data_type), dims=tuple(o.dims)) for o in config.output
        ),
    )


class BoundGolden(BaseModel):
    """A golden set checked against a model's signature: requests to send, answers to expect, rules."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    golden: GoldenSet
    signature: ModelSignature
    requests: list[dict[str, np.ndarray]]
    expected: list[dict[str, np.ndarray]]
    rules: dict[str, tuple[Compare, float, float]]
    text_rules: dict[str, OutputRule] = Field(default_factory=dict)  # outputs judged as joined text instead

    @property
    def model(self) -> str:
        return self.signature.model

    @property
    def datatypes(self) -> dict[str, str]:
        return {spec.name: spec.datatype for spec in self.signature.inputs}

    def __len__(self) -> int:
        return len(self.requests)


def _mismatch(signature: ModelSignature, field: str, problem: str, fix: str = FIX) -> GoldenSetMismatch:
    return GoldenSetMismatch(f"golden set for {signature.model}", field, problem, fix)


def _fits(shape: Sequence[int], dims: Sequence[int]) -> bool:
    return len(shape) == len(dims) and all(d < 0 or s == d for s, d in zip(shape, dims))


def _shaped(array: np.ndarray, spec: TensorSpec, signature: ModelSignature, where: str) -> np.ndarray:
    """The tensor as sent or answered: a batch of one added to a single sample of a batching model."""
    if signature.batching and _fits(array.shape, spec.dims):
        return array[np.newaxis, ...]
    if signature.batching and array.ndim == len(spec.dims) + 1 and _fits(array.shape[1:], spec.dims):
        if not 1 <= array.shape[0] <= signature.max_batch_size:
            raise _mismatch(
                signature,
                where,
                f"a batch of {array.shape[0]}; the model takes 1 to {signature.max_batch_size}",
                "split the case",
            )
        return array
    if not signature.batching and _fits(array.shape, spec.dims):
        return array
    want = f"[{', '.join(map(str, spec.dims))}]" + (" (or a batch of them)" if signature.batching else "")
    raise _mismatch(signature, where, f"shape {list(array.shape)} does not fit the model's dims {want} for {spec.name}")


def _check_declarations(golden: GoldenSet, signature: ModelSignature) -> None:
    for kind, declared, specs in (
        ("input", golden.inputs, signature.inputs),
        ("output", golden.outputs, signature.outputs),
    ):
        known = {s.name: s for s in specs}
        for name, decl in declared.items():
            spec = known.get(name)
            if spec is None:
                raise _mismatch(
                    signature, f"{kind}s.{name}", f"the model has no {kind} {name} (its {kind}s: {', '.join(known)})"
                )
            if decl.datatype and decl.datatype != spec.datatype:
                raise _mismatch(
                    signature,
                    f"{kind}s.{name}.datatype",
                    f"{decl.datatype}, but the model's config says {spec.datatype}",
                )
            if decl.shape is not None and list(decl.shape) != list(spec.dims):
                raise _mismatch(
                    signature, f"{kind}s.{name}.shape", f"{decl.shape}, but the model's config says {list(spec.dims)}"
                )
    outputs = {s.name for s in signature.outputs}
    for name in golden.compare:
        if name not in outputs:
            raise _mismatch(
                signature,
                f"compare.{name}",
                f"the model has no output {name} (its outputs: {', '.join(sorted(outputs))})",
            )


def rules_for(golden: GoldenSet, signature: ModelSignature) -> dict[str, tuple[Compare, float, float]]:
    rules = {}
    for spec in signature.outputs:
        rule = golden.compare.get(spec.name, OutputRule())
        if spec.datatype not in FLOATS and (
            rule.compare is Compare.CLOSE or rule.rtol is not None or rule.atol is not None
        ):
            raise _mismatch(
                signature,
                f"compare.{spec.name}",
                f"{spec.name} is {spec.datatype}: it is compared exactly, not within a tolerance",
                "drop close / rtol / atol for it (or skip it)",
            )
        default = Compare.CLOSE if spec.datatype in FLOATS else Compare.EXACT
        rtol, atol = DEFAULT_TOLERANCE.get(spec.datatype, (0.0, 0.0))
        rules[spec.name] = (
            rule.compare or default,
            rtol if rule.rtol is None else rule.rtol,
            atol if rule.atol is None else rule.atol,
        )
    return rules


def text_rules_for(golden: GoldenSet, signature: ModelSignature) -> dict[str, OutputRule]:
    """The outputs judged as joined text. Only a decoupled model's BYTES output can be: a unary answer is one
    tensor, not a stream, and numbers are not text."""
    chosen = {}
    for spec in signature.outputs:
        if (rule := golden.compare.get(spec.name)) is None or rule.text is None:
            continue
        if not signature.decoupled:
            raise _mismatch(
                signature,
                f"compare.{spec.name}.text",
                f"{signature.model} is not decoupled (no model_transaction_policy {{ decoupled: true }} in its config): "
                "it answers one tensor, not a stream of text",
                f"drop text for {spec.name}: it is compared as a tensor",
            )
        if spec.datatype != "BYTES":
            raise _mismatch(
                signature,
                f"compare.{spec.name}.text",
                f"{spec.name} is {spec.datatype}: a text rule judges generated text (a BYTES output)",
                f"drop text for {spec.name}: it is compared response by response",
            )
        chosen[spec.name] = rule
    return chosen


def _check_text_expected(name: str, stream: np.ndarray, rule: OutputRule, sig: ModelSignature, where: str) -> None:
    """A text rule's expected stream: one text per case, and at least the prefix the rule compares."""
    if sig.batching and stream.shape[1] != 1:
        raise _mismatch(
            sig, where, f"a batch of {stream.shape[1]}: a text rule judges one text per case", "give each sample a case"
        )
    if rule.min_tokens is not None and len(stream) < rule.min_tokens:
        raise _mismatch(
            sig,
            where,
            f"{len(stream)} responses, fewer than the {rule.min_tokens} compare.{name}.min_tokens asks to match",
            "lower min_tokens, or expect a longer stream",
        )


def bind(golden: GoldenSet, signature: ModelSignature) -> BoundGolden:
    """``golden`` checked against the model's config; a ``GoldenSetMismatch`` names the case and tensor and the fix."""
    if golden.model != signature.model:
        raise _mismatch(
            signature,
            "model",
            f"the golden set is for {golden.model!r}, not {signature.model!r}",
            "use the golden set of this model",
        )
    _check_declarations(golden, signature)
    if unusable := unusable_budgets(golden.latency_budget_ms, signature.decoupled):
        raise _mismatch(
            signature,
            f"latency_budget_ms.{unusable[0]}",
            f"{signature.model} does not stream (no model_transaction_policy {{ decoupled: true }}): nothing to measure it on",
            "drop it; p95 bounds a unary model's latency",
        )
    rules, text_rules = rules_for(golden, signature), text_rules_for(golden, signature)
    decode_expected = _stream if signature.decoupled else _tensor
    batch_axis = 1 if signature.decoupled else 0  # a stream's responses come first
    inputs, outputs = {s.name: s for s in signature.inputs}, {s.name: s for s in signature.outputs}
    requests, expected = [], []
    for index, case in enumerate(golden.cases):
        label = f"cases[{index}]" + (f" ({case.name})" if case.name else "")
        unknown = sorted(set(case.inputs) - set(inputs))
        if unknown:
            raise _mismatch(
                signature,
                f"{label}.inputs.{unknown[0]}",
                f"the model has no input {unknown[0]} (its inputs: {', '.join(inputs)})",
            )
        missing = [n for n, s in inputs.items() if n not in case.inputs and not s.optional]
        if missing:
            raise _mismatch(
                signature,
                f"{label}.inputs.{missing[0]}",
                f"is missing; the model needs {', '.join(n for n, s in inputs.items() if not s.optional)}",
            )
        request = {
            name: _tensor(value, inputs[name], signature, f"{label}.inputs.{name}")
            for name, value in case.inputs.items()
        }
        batches = {a.shape[0] for a in request.values()} if signature.batching else {None}
        if len(batches) > 1:
            raise _mismatch(
                signature,
                f"{label}.inputs",
                f"batch sizes differ between inputs ({sorted(batches)})",
                "give every input the same batch size",
            )
        answer = {}
        for name, value in case.expected.items():
            if name not in outputs:
                raise _mismatch(
                    signature,
                    f"{label}.expected.{name}",
                    f"the model has no output {name} (its outputs: {', '.join(outputs)})",
                )
            answer[name] = decode_expected(value, outputs[name], signature, f"{label}.expected.{name}")
            if name in text_rules:
                _check_text_expected(name, answer[name], text_rules[name], signature, f"{label}.expected.{name}")
        want = {a.shape[batch_axis] for a in answer.values()} if signature.batching else set()
        if signature.batching and want - batches:
            raise _mismatch(
                signature,
                f"{label}.expected",
                f"a batch of {sorted(want - batches)[0]} expected for a request of {sorted(batches)[0]}",
                "give expected outputs one entry per sample sent",
            )
        for name, (compare, _, _) in rules.items():
            if compare is not Compare.SKIP and name not in answer:
                raise _mismatch(
                    signature,
                    f"{label}.expected.{name}",
                    f"no expected value for output {name}, so it would go uncompared",
                    f"add it, or skip the output explicitly with compare: {{{name}: {{compare: skip}}}}",
                )
        requests.append(request)
        expected.append(answer)
    return BoundGolden(
        golden=golden, signature=signature, requests=requests, expected=expected, rules=rules, text_rules=text_rules
    )


def _tensor(value: Any, spec: TensorSpec, signature: ModelSignature, where: str) -> np.ndarray:
    try:
        array = decode_tensor(value, spec.datatype)
    except ValueError as exc:
        raise _mismatch(signature, where, f"not a {spec.datatype} tensor: {exc}") from None
    return _shaped(array, spec, signature, where)


def _stream(value: Any, spec: TensorSpec, signature: ModelSignature, where: str) -> np.ndarray:
    """A decoupled model's expected responses (a list, one tensor each, ``where[r]`` naming response r),
    stacked on a leading axis as the server's answers are: the responses axis is not one of the model's dims."""
    if not isinstance(value, list) or not value:
        raise _mismatch(
            signature,
            where,
            f"not a stream: {signature.model} is decoupled, so an expected output is the list of its responses (one or more)",
            'write one tensor per response, e.g. [["It"], [" was"]] (`changeflow golden capture` does)',
        )
    responses = [_tensor(item, spec, signature, f"{where}[{r}]") for r, item in enumerate(value)]
    if len(shapes := {a.shape for a in responses}) > 1:
        raise _mismatch(
            signature,
            where,
            f"responses of different shapes {sorted(map(list, shapes))}: a stream's responses are stacked",
            "give every response the same shape",
        )
    return np.stack(responses)

"""Golden sets for any model: bound to the model's signature, every datatype, any rank, batching or not,
every output compared unless skipped by name, and every misfit named by case and tensor."""

import numpy as np
import pytest
from pydantic import ValidationError

from changeflow.domain.golden import MAX_CASES, GoldenSet, ModelSignature, TensorSpec, bind, decode_tensor
from changeflow.domain.verdicts import CaseObservation, Outcome, assess_golden, case_problems
from changeflow.exceptions import GoldenSetMismatch, InvalidInput
from changeflow.services.golden_capture import encode_tensor


def spec(name, datatype, *dims, optional=False):
    return TensorSpec(name=name, datatype=datatype, dims=dims, optional=optional)


SCORER = ModelSignature(
    model="scorer",
    max_batch_size=0,
    inputs=(spec("AMOUNT", "FP64", 1), spec("SIGNALS", "BOOL", 3)),
    outputs=(spec("RISK", "FP32", 1), spec("ACTION", "INT8", 1)),
)
TEXT = ModelSignature(
    model="text",
    max_batch_size=4,
    inputs=(spec("TEXT", "BYTES", 1),),
    outputs=(spec("LABEL", "BYTES", 1), spec("SCORE", "FP16", 1)),
)


def golden(model="scorer", cases=None, **extra):
    cases = cases or [
        {"inputs": {"AMOUNT": [12.5], "SIGNALS": [False, True, False]}, "expected": {"RISK": [0.25], "ACTION": [0]}}
    ]
    return GoldenSet.model_validate({"model": model, "cases": cases, **extra})


@pytest.mark.parametrize(
    "datatype, value, dtype",
    [
        ("BOOL", [True, False], "bool"),
        ("UINT8", [0, 255], "uint8"),
        ("UINT16", [65535], "uint16"),
        ("UINT32", [2**32 - 1], "uint32"),
        ("UINT64", [2**64 - 1], "uint64"),
        ("INT8", [-128, 127], "int8"),
        ("INT16", [-3], "int16"),
        ("INT32", [7], "int32"),
        ("INT64", [-(2**63)], "int64"),
        ("FP16", [0.5], "float16"),
        ("FP32", [[1.5, 2.0], [3.0, 4.0]], "float32"),
        ("FP64", [1e-300], "float64"),
        ("BF16", [1.0], "bfloat16"),
        ("BYTES", ["héllo", {"b64": "AP8="}], "object"),
    ],
)
def test_every_triton_datatype_decodes_to_its_numpy_type_and_back(datatype, value, dtype):
    array = decode_tensor(value, datatype)
    assert array.dtype == np.dtype(dtype)
    if datatype == "BYTES":
        assert array.tolist() == ["héllo".encode(), b"\x00\xff"] and encode_tensor(array) == ["héllo", {"b64": "AP8="}]
    else:
        assert encode_tensor(array) == value or np.allclose(encode_tensor(array), value)


@pytest.mark.parametrize(
    "datatype, value, problem",
    [
        ("UINT8", [256], "outside UINT8's range"),
        ("INT32", [1.5], "fractions"),
        ("BOOL", [1, 0], "true / false"),
        ("FP32", [True], "takes numbers"),
        ("FP32", [[1, 2], [3]], "rectangular"),
        ("BYTES", [3], "string"),
        ("INT64", ["7"], "takes numbers"),
        ("INT64", [2**63, -1], "outside INT64's range"),
        ("UINT64", [2**64 - 1, 1.5], "fractions"),
        ("FP32", [1e40], "beyond what FP32 can hold"),
        ("FP16", [1e6], "beyond what FP16 can hold"),
        ("BYTES", [["a", "b"], ["c"]], "rectangular"),
        ("BYTES", [{"b64": 5}], "base64"),
        ("FP32", [[[[[[[[[[[[[[[[[[[1.0]]]]]]]]]]]]]]]]]]], "deeper than 16"),
    ],
)
def test_a_value_that_does_not_fit_its_datatype_is_refused(datatype, value, problem):
    with pytest.raises(ValueError, match=problem):
        decode_tensor(value, datatype)


def test_a_non_batching_multi_input_model_gets_its_tensors_as_written():
    bound = bind(golden(), SCORER)
    request = bound.requests[0]
    assert request["AMOUNT"].dtype == np.float64 and request["AMOUNT"].shape == (1,)
    assert request["SIGNALS"].dtype == np.bool_ and request["SIGNALS"].tolist() == [False, True, False]
    assert bound.datatypes == {"AMOUNT": "FP64", "SIGNALS": "BOOL"}
    assert bound.rules == {"RISK": ("close", 1e-5, 1e-6), "ACTION": ("exact", 0.0, 0.0)}


def test_a_batching_model_gets_a_batch_of_one_or_the_batch_a_case_gives():
    one = golden("text", [{"inputs": {"TEXT": ["fine"]}, "expected": {"LABEL": ["neutral"], "SCORE": [0.0]}}])
    bound = bind(one, TEXT)
    assert bound.requests[0]["TEXT"].shape == (1, 1) and bound.expected[0]["LABEL"].shape == (1, 1)
    many = golden(
        "text",
        [
            {
                "inputs": {"TEXT": [["good"], ["bad"], ["ok"]]},
                "expected": {"LABEL": [["p"], ["n"], ["o"]], "SCORE": [[1], [-1], [0]]},
            }
        ],
    )
    assert bind(many, TEXT).requests[0]["TEXT"].shape == (3, 1)
    too_many = golden(
        "text", [{"inputs": {"TEXT": [["x"]] * 5}, "expected": {"LABEL": [["p"]] * 5, "SCORE": [[0]] * 5}}]
    )
    with pytest.raises(GoldenSetMismatch, match=r"cases\[0\]\.inputs\.TEXT: a batch of 5; the model takes 1 to 4"):
        bind(too_many, TEXT)


@pytest.mark.parametrize(
    "case, field, problem",
    [
        (
            {
                "inputs": {"AMOUNT": [1.0], "SIGNALS": [True, False, True], "EXTRA": [1]},
                "expected": {"RISK": [0.1], "ACTION": [0]},
            },
            r"cases\[0\]\.inputs\.EXTRA",
            "no input EXTRA",
        ),
        (
            {"inputs": {"AMOUNT": [1.0]}, "expected": {"RISK": [0.1], "ACTION": [0]}},
            r"cases\[0\]\.inputs\.SIGNALS",
            "is missing",
        ),
        (
            {
                "inputs": {"AMOUNT": [1.0, 2.0], "SIGNALS": [True, False, True]},
                "expected": {"RISK": [0.1], "ACTION": [0]},
            },
            r"cases\[0\]\.inputs\.AMOUNT",
            r"shape \[2\] does not fit",
        ),
        (
            {"inputs": {"AMOUNT": [1.0], "SIGNALS": [1, 0, 1]}, "expected": {"RISK": [0.1], "ACTION": [0]}},
            r"cases\[0\]\.inputs\.SIGNALS",
            "not a BOOL tensor",
        ),
        (
            {
                "inputs": {"AMOUNT": [1.0], "SIGNALS": [True, False, True]},
                "expected": {"RISK": [0.1], "ACTION": [0], "DEBUG": [1]},
            },
            r"cases\[0\]\.expected\.DEBUG",
            "no output DEBUG",
        ),
        (
            {"inputs": {"AMOUNT": [1.0], "SIGNALS": [True, False, True]}, "expected": {"RISK": [0.1]}},
            r"cases\[0\]\.expected\.ACTION",
            "would go uncompared",
        ),
    ],
)
def test_every_misfit_names_the_case_and_the_tensor(case, field, problem):
    with pytest.raises(GoldenSetMismatch, match=f"golden set for scorer: {field}: .*{problem}") as raised:
        bind(golden(cases=[case]), SCORER)
    assert isinstance(raised.value, InvalidInput) and "fix:" in str(raised.value)


def test_declarations_and_rules_are_checked_against_the_live_config():
    with pytest.raises(GoldenSetMismatch, match=r"inputs\.AMOUNT\.datatype: FP32, but the model's config says FP64"):
        bind(golden(inputs={"AMOUNT": {"datatype": "FP32"}}), SCORER)
    with pytest.raises(GoldenSetMismatch, match=r"outputs\.RISK\.shape: \[2\], but the model's config says \[1\]"):
        bind(golden(outputs={"RISK": {"shape": [2]}}), SCORER)
    with pytest.raises(GoldenSetMismatch, match=r"compare\.SCORE: the model has no output SCORE"):
        bind(golden(compare={"SCORE": {"compare": "skip"}}), SCORER)
    with pytest.raises(GoldenSetMismatch, match="the golden set is for 'other'"):
        bind(golden("other"), SCORER)


def observation(risk, action, **more):
    return CaseObservation(
        outputs={"RISK": np.array([risk], np.float32), "ACTION": np.array([action], np.int8), **more}
    )


def test_an_output_left_out_of_expected_is_compared_unless_skipped_by_name():
    """Before, an output in neither `exact` nor `tolerance` was never compared and a wrong version passed."""
    skipped = bind(
        golden(
            cases=[{"inputs": {"AMOUNT": [1.0], "SIGNALS": [True, False, True]}, "expected": {"RISK": [0.25]}}],
            compare={"ACTION": {"compare": "skip"}},
        ),
        SCORER,
    )
    assert case_problems(skipped, 0, observation(0.25, 2)) == []  # ACTION wrong, but skipped on purpose
    compared = bind(golden(), SCORER)
    assert case_problems(compared, 0, observation(0.25, 2)) == ["case 0: ACTION [2] != expected [0]"]


def test_floats_are_close_by_default_and_overridable_and_integers_exact():
    bound = bind(golden(), SCORER)
    assert case_problems(bound, 0, observation(0.2500001, 0)) == []
    assert case_problems(bound, 0, observation(0.26, 0)) == ["case 0: RISK off by up to 0.01 (rtol 1e-05, atol 1e-06)"]
    loose = bind(golden(compare={"RISK": {"atol": 0.05}}), SCORER)
    assert case_problems(loose, 0, observation(0.26, 0)) == []
    exact = bind(golden(compare={"RISK": {"compare": "exact"}}), SCORER)
    assert case_problems(exact, 0, observation(0.2500001, 0)) != []


def test_wrong_dtype_shape_missing_outputs_and_bytes_are_judged():
    bound = bind(golden(), SCORER)
    wrong_dtype = CaseObservation(outputs={"RISK": np.array([0.25], np.float64), "ACTION": np.array([0], np.int8)})
    assert case_problems(bound, 0, wrong_dtype) == ["case 0: RISK dtype float64, expected float32 (FP32)"]
    wrong_shape = CaseObservation(outputs={"RISK": np.array([[0.25]], np.float32), "ACTION": np.array([0], np.int8)})
    assert case_problems(bound, 0, wrong_shape) == ["case 0: RISK shape [1, 1], expected [1]"]
    assert case_problems(bound, 0, CaseObservation(outputs={"RISK": np.array([0.25], np.float32)})) == [
        "case 0: output ACTION missing from the answer"
    ]
    text = bind(
        golden("text", [{"inputs": {"TEXT": ["fine"]}, "expected": {"LABEL": ["neutral"], "SCORE": [0.0]}}]), TEXT
    )
    as_str = CaseObservation(
        outputs={"LABEL": np.array([["neutral"]], dtype=object), "SCORE": np.array([[0.0]], np.float16)}
    )
    as_bytes = CaseObservation(
        outputs={"LABEL": np.array([[b"neutral"]], dtype=object), "SCORE": np.array([[0.0]], np.float16)}
    )
    wrong = CaseObservation(
        outputs={"LABEL": np.array([[b"positive"]], dtype=object), "SCORE": np.array([[0.0]], np.float16)}
    )
    assert case_problems(text, 0, as_str) == case_problems(text, 0, as_bytes) == []
    assert case_problems(text, 0, wrong) == ['case 0: LABEL [["positive"]] != expected [["neutral"]]']
    assert assess_golden(text, [wrong]).outcome is Outcome.FAIL


def test_integers_are_never_rounded_through_floats_and_bf16_travels_as_bfloat16():
    assert decode_tensor([2**64 - 1, 1], "UINT64").tolist() == [2**64 - 1, 1]
    assert decode_tensor([9007199254740993], "INT64").tolist() == [9007199254740993]
    assert str(decode_tensor([1.5], "BF16").dtype) == "bfloat16"


def test_a_tolerance_for_an_output_compared_exactly_and_a_batch_mismatch_are_refused():
    with pytest.raises(GoldenSetMismatch, match=r"compare\.ACTION: ACTION is INT8: it is compared exactly"):
        bind(golden(compare={"ACTION": {"atol": 1}}), SCORER)
    with pytest.raises(GoldenSetMismatch, match=r"compare\.LABEL: LABEL is BYTES"):
        bind(
            golden(
                "text",
                [{"inputs": {"TEXT": ["x"]}, "expected": {"LABEL": ["p"], "SCORE": [0]}}],
                compare={"LABEL": {"compare": "close"}},
            ),
            TEXT,
        )
    uneven = golden("text", [{"inputs": {"TEXT": ["x"]}, "expected": {"LABEL": [["p"], ["q"]], "SCORE": [0]}}])
    with pytest.raises(GoldenSetMismatch, match=r"cases\[0\]\.expected: a batch of 2 expected for a request of 1"):
        bind(uneven, TEXT)


@pytest.mark.parametrize("value", [[float("nan")], [1.0, float("inf")], [-float("inf")], [10**400]])
def test_a_nan_an_infinity_or_a_number_beyond_a_float_is_refused_in_any_tensor(value):
    with pytest.raises(ValueError, match="NaN or infinity|too large for a float"):
        decode_tensor(value, "FP64")
    with pytest.raises(GoldenSetMismatch, match=r"cases\[0\]\.expected\.RISK: not a FP32 tensor"):
        bind(
            golden(
                cases=[
                    {
                        "inputs": {"AMOUNT": [1.0], "SIGNALS": [True, False, True]},
                        "expected": {"RISK": value, "ACTION": [0]},
                    }
                ]
            ),
            SCORER,
        )


@pytest.mark.parametrize(
    "extra, where",
    [
        ({"compare": {"RISK": {"atol": float("inf")}}}, ("compare", "RISK", "atol")),
        ({"compare": {"RISK": {"rtol": float("nan")}}}, ("compare", "RISK", "rtol")),
        ({"latency_budget_ms": {"p95": float("inf")}}, ("latency_budget_ms", "p95")),
        ({"latency_budget_ms": {"p95": 0}}, ("latency_budget_ms", "p95")),
    ],
)
def test_a_tolerance_or_latency_budget_that_would_pass_everything_is_refused(extra, where):
    with pytest.raises(ValidationError) as refused:
        golden(**extra)
    assert refused.value.errors()[0]["loc"] == where


def test_a_golden_set_holds_at_most_max_cases():
    case = {"inputs": {"AMOUNT": [1.0], "SIGNALS": [True, False, True]}, "expected": {"RISK": [0.5], "ACTION": [0]}}
    assert len(golden(cases=[case] * MAX_CASES).cases) == MAX_CASES
    with pytest.raises(ValidationError, match=f"at most {MAX_CASES} items"):
        golden(cases=[case] * (MAX_CASES + 1))

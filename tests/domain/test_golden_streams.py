"""Golden sets for streams (#26): a decoupled model's expected output is the list of its responses, bound
stacked on a leading axis as the model server answers; compared by number of responses, then response by
response. No server: a fake answers with stacked streams, as the Triton adapter does."""

import json

import numpy as np
import pytest

from changeflow.domain.golden import GoldenSet, bind, signature
from changeflow.domain.model_config import parse_config
from changeflow.domain.verdicts import CaseObservation, Outcome, assess_golden, case_problems, disagreement
from changeflow.exceptions import GoldenSetMismatch
from changeflow.services.golden_capture import capture_golden, check_golden
from changeflow.services.verification import load_golden
from tests.fakes import FakeModelServer

STREAMING = """
name: "writer"
max_batch_size: 0
model_transaction_policy { decoupled: true }
input { name: "PROMPT" data_type: TYPE_STRING dims: [ 1 ] }
output { name: "TOKEN" data_type: TYPE_STRING dims: [ 1 ] }
output { name: "LOGPROB" data_type: TYPE_FP32 dims: [ 1 ] }
"""
SIG = signature(parse_config(STREAMING))
UNARY = signature(parse_config(STREAMING.replace("model_transaction_policy { decoupled: true }", "")))
TEXT = "it was the best of times, it was the worst of times, it was the age of wisdom"
TOKENS = [word if i == 0 else f" {word}" for i, word in enumerate(TEXT.split())]  # 18 tokens


def stream(tokens, logprob=-0.5):
    """What the adapter answers for a stream: each output's responses stacked on a new leading axis."""
    return {
        "TOKEN": np.array([[token.encode()] for token in tokens], dtype=object),
        "LOGPROB": np.full((len(tokens), 1), logprob, np.float32),
    }


def seen(tokens, logprob=-0.5):
    return CaseObservation(outputs=stream(tokens, logprob))


def golden_data(compare=None, tokens=TOKENS):
    """A golden set as its file holds it: one case, every response of the stream expected."""
    case = {
        "inputs": {"PROMPT": ["It was"]},
        "expected": {"TOKEN": [[token] for token in tokens], "LOGPROB": [[-0.5]] * len(tokens)},
    }
    return {"model": "writer", "compare": compare or {}, "cases": [case]}


def golden(compare=None, tokens=TOKENS):
    return GoldenSet.model_validate(golden_data(compare, tokens))


def writer(model, version, inputs):
    """A deterministic token stream per prompt: the text from a word the prompt picks."""
    start = len(inputs["PROMPT"].reshape(-1)[0]) % 4
    return stream(TOKENS[start:])


def test_the_signature_says_whether_the_model_streams():
    assert SIG.decoupled is True and UNARY.decoupled is False
    assert bind(golden(), SIG).expected[0]["TOKEN"].shape == (18, 1)  # [responses, *the output's dims]


def test_a_captured_stream_golden_set_round_trips_through_its_file(tmp_path):
    server = FakeModelServer(writer, ready={"writer": [1]})
    server.configs["writer"] = parse_config(STREAMING)
    captured = capture_golden(server, "writer", 1, [{"PROMPT": ["It was"]}, {"PROMPT": ["The"]}])
    assert captured.cases[0].expected["TOKEN"][:3] == [[" the"], [" best"], [" of"]]  # one entry per response
    assert captured.cases[1].expected["LOGPROB"][:2] == [[-0.5], [-0.5]]
    assert captured.outputs["TOKEN"].shape == [1]  # a response's dims, not the stream's
    path = tmp_path / "writer.json"
    path.write_text(json.dumps(captured.model_dump(mode="json", exclude_defaults=True)))
    verdict = check_golden(server, path, None, 1)
    assert verdict.outcome is Outcome.PASS and verdict.reason == "2 of 2 golden cases right"
    bound = bind(load_golden(path), SIG)
    assert bound.expected[0]["TOKEN"].shape == (16, 1) and bound.expected[1]["TOKEN"].shape == (15, 1)


def test_a_stream_with_fewer_responses_fails_naming_the_counts():
    bound = bind(golden(), SIG)
    assert case_problems(bound, 0, seen(TOKENS[:12])) == [
        "case 0: TOKEN 12 responses, expected 18",
        "case 0: LOGPROB 12 responses, expected 18",
    ]
    verdict = assess_golden(bound, [seen(TOKENS[:12])])
    assert verdict.outcome is Outcome.FAIL and "case 0: TOKEN 12 responses, expected 18" in verdict.reason


def test_one_wrong_token_fails_naming_the_case_and_the_response():
    bound = bind(golden(), SIG)
    wrong = list(TOKENS)
    wrong[5] = " worst"
    assert case_problems(bound, 0, seen(wrong)) == ['case 0: TOKEN response 5: [" worst"] != expected [" times,"]']
    assert case_problems(bound, 0, seen(TOKENS, logprob=-0.5 + 1e-7)) == []  # floats within their tolerance
    assert case_problems(bound, 0, seen(TOKENS, logprob=-0.4)) == [
        "case 0: LOGPROB response 0: off by up to 0.1 (rtol 1e-05, atol 1e-06)"
    ]


def test_a_stream_expected_of_a_decoupled_model_is_a_list_of_responses_each_fitting_the_dims():
    with pytest.raises(GoldenSetMismatch, match=r"cases\[0\]\.expected\.TOKEN: not a stream: writer is decoupled"):
        bind(golden(tokens=[]), SIG)
    ragged = golden().model_copy(deep=True)
    ragged.cases[0].expected["TOKEN"][3] = ["a", "b"]
    with pytest.raises(GoldenSetMismatch, match=r"cases\[0\]\.expected\.TOKEN\[3\]: shape \[2\] does not fit"):
        bind(ragged, SIG)


def test_a_batching_streaming_model_gets_a_batch_of_one_per_response():
    batching = SIG.model_copy(update={"max_batch_size": 4})
    bound = bind(golden(), batching)
    assert bound.expected[0]["TOKEN"].shape == (18, 1, 1) and bound.requests[0]["PROMPT"].shape == (1, 1)
    assert (
        case_problems(bound, 0, CaseObservation(outputs={k: v[:, np.newaxis] for k, v in stream(TOKENS).items()})) == []
    )


def test_disagreement_between_two_versions_streams_names_the_first_differing_response():
    bound = bind(golden(), SIG)
    new = list(TOKENS)
    new[4], new[9] = " worst", " best"
    assert disagreement(bound, 0, seen(new), seen(TOKENS)) == 'case 0: TOKEN response 4: [" worst"] != expected [" of"]'
    assert disagreement(bound, 0, seen(TOKENS[:10]), seen(TOKENS)) == "case 0: TOKEN 10 responses vs 18"
    assert disagreement(bound, 0, seen(TOKENS), seen(TOKENS)) is None


def test_a_unary_golden_set_is_unaffected():
    unary = GoldenSet.model_validate(
        {"model": "writer", "cases": [{"inputs": {"PROMPT": ["It"]}, "expected": {"TOKEN": ["it"], "LOGPROB": [-0.5]}}]}
    )
    bound = bind(unary, UNARY)
    assert bound.expected[0]["TOKEN"].shape == (1,)
    answer = {"TOKEN": np.array([b"it"], dtype=object), "LOGPROB": np.array([-0.5], np.float32)}
    assert case_problems(bound, 0, CaseObservation(outputs=answer)) == []
    assert case_problems(bound, 0, seen(TOKENS[:2])) == [
        "case 0: TOKEN shape [2, 1], expected [1]",
        "case 0: LOGPROB shape [2, 1], expected [1]",
    ]
    with pytest.raises(GoldenSetMismatch, match=r"cases\[0\]\.expected\.TOKEN: shape \[18, 1\] does not fit"):
        bind(golden(), UNARY)  # a stream's expectation for a model that does not stream

"""Golden sets for streams (#26): a decoupled model's expected output is the list of its responses, bound
stacked on a leading axis as the model server answers; compared by number of responses, then response by
response, or as the joined text by a rule the golden set carries (and its digest covers). No server: a fake
answers with stacked streams, as the Triton adapter does."""

import json
import math

import numpy as np
import pytest
from pydantic import ValidationError

from changeflow.domain.golden import GoldenSet, bind, signature
from changeflow.domain.model_config import parse_config
from changeflow.domain.verdicts import CaseObservation, Outcome, assess_golden, case_problems, disagreement
from changeflow.exceptions import GoldenSetMismatch, InvalidChangeRequest
from changeflow.services.golden_capture import capture_golden, check_golden
from changeflow.services.verification import bound_golden, golden_digest, load_golden
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
SKIP_LOGPROB = {"LOGPROB": {"compare": "skip"}}


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


def test_text_prefix_passes_another_tail_after_n_shared_tokens_and_fails_a_divergence_before_n():
    bound = bind(golden({"TOKEN": {"text": "prefix", "min_tokens": 8}, **SKIP_LOGPROB}), SIG)
    assert case_problems(bound, 0, seen(TOKENS[:8] + [" and", " so", " on"] * 5)) == []  # longer, another tail
    assert case_problems(bound, 0, seen(TOKENS[:8])) == []  # shorter, the prefix whole
    diverged = TOKENS[:3] + [" worst"] + TOKENS[4:]
    assert case_problems(bound, 0, seen(diverged)) == ['case 0: TOKEN response 3: [" worst"] != expected [" best"]']
    assert case_problems(bound, 0, seen(TOKENS[:7])) == [
        "case 0: TOKEN 7 responses, expected 18; text: prefix compares the first 8"
    ]
    with pytest.raises(GoldenSetMismatch, match=r"cases\[0\]\.expected\.TOKEN: 5 responses, fewer than the 8"):
        bind(golden({"TOKEN": {"text": "prefix", "min_tokens": 8}, **SKIP_LOGPROB}, tokens=TOKENS[:5]), SIG)


def test_text_similar_passes_a_one_word_change_and_fails_an_unrelated_text():
    bound = bind(golden({"TOKEN": {"text": "similar", "min_similarity": 0.9}, **SKIP_LOGPROB}), SIG)
    changed = [" finest" if token == " best" else token for token in TOKENS]  # similarity 0.962
    assert case_problems(bound, 0, seen(changed)) == []
    retokenized = TOKENS[:3] + [" be", "st"] + TOKENS[4:]  # 19 responses, the same text: no count applies
    assert case_problems(bound, 0, seen(retokenized)) == []
    unrelated = [" call", " me", " ishmael", " some", " years", " ago", " never", " mind", " how", " long"]
    [problem] = case_problems(bound, 0, seen(unrelated))
    assert problem.startswith('case 0: TOKEN text similarity 0.234 < 0.9: " call me ishmael')
    assert problem.endswith(f'expected "{TEXT}"')


def test_text_exact_judges_the_joined_text_and_the_number_of_responses():
    bound = bind(golden({"TOKEN": {"text": "exact"}, **SKIP_LOGPROB}), SIG)
    resplit = [TOKENS[0] + TOKENS[1], *TOKENS[2:17], TOKENS[17][:3], TOKENS[17][3:]]  # 18 responses, the same text
    assert case_problems(bound, 0, seen(resplit)) == []
    [problem] = case_problems(bound, 0, seen(TOKENS[:17] + [" folly"]))
    assert problem == f'case 0: TOKEN text "{TEXT[: -len(" wisdom")]} folly", expected "{TEXT}"'
    assert case_problems(bound, 0, seen(TOKENS[:17])) == ["case 0: TOKEN 17 responses, expected 18"]


@pytest.mark.parametrize(
    "compare, signature_, field, problem",
    [
        (
            {"LOGPROB": {"text": "exact"}},
            SIG,
            "compare.LOGPROB.text",
            "LOGPROB is FP32: a text rule judges generated text",
        ),
        ({"TOKEN": {"text": "exact"}}, UNARY, "compare.TOKEN.text", "writer is not decoupled"),
    ],
)
def test_text_rules_are_refused_where_there_is_no_stream_of_text(compare, signature_, field, problem):
    with pytest.raises(GoldenSetMismatch) as refused:
        bind(golden({**compare}), signature_)
    assert (
        refused.value.field == field and problem in refused.value.problem and refused.value.fix.startswith("drop text")
    )


@pytest.mark.parametrize(
    "rule, field, problem",
    [
        ({"text": "similar", "min_similarity": 0}, "compare.TOKEN.min_similarity", "input should be greater than 0"),
        (
            {"text": "similar", "min_similarity": 1.5},
            "compare.TOKEN.min_similarity",
            "input should be less than or equal to 1",
        ),
        ({"text": "similar"}, "compare.TOKEN", "text: similar takes min_similarity (0 < X <= 1)"),
        ({"text": "prefix"}, "compare.TOKEN", "text: prefix takes min_tokens"),
        ({"text": "prefix", "min_tokens": 0}, "compare.TOKEN.min_tokens", "input should be greater than or equal to 1"),
        ({"text": "prefix", "min_tokens": 2.5}, "compare.TOKEN.min_tokens", "input should be a valid integer"),
        ({"text": "prefix", "min_tokens": True}, "compare.TOKEN.min_tokens", "input should be a valid integer"),
        ({"text": "exact", "min_tokens": 3}, "compare.TOKEN", "text: prefix takes min_tokens"),
        (
            {"text": "prefix", "min_tokens": 3, "min_similarity": 0.9},
            "compare.TOKEN",
            "text: similar takes min_similarity",
        ),
        ({"text": "exact", "compare": "exact"}, "compare.TOKEN", "text: exact judges the joined text, so compare"),
        ({"min_similarity": 0.9}, "compare.TOKEN", "min_tokens and min_similarity belong to a text rule"),
        ({"text": "similar", "min_similarty": 0.9}, "compare.TOKEN.min_similarty", "extra inputs are not permitted"),
        ({"text": "fuzzy"}, "compare.TOKEN.text", "input should be 'exact', 'prefix' or 'similar'"),
    ],
)
def test_a_text_rule_written_wrong_is_refused_in_one_line_naming_the_field(tmp_path, rule, field, problem):
    path = tmp_path / "writer.json"
    path.write_text(json.dumps(golden_data({"TOKEN": rule})))
    with pytest.raises(InvalidChangeRequest) as refused:
        load_golden(path)
    assert refused.value.problem.startswith(f"{field}: ") and problem in refused.value.problem
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("value", [math.nan, math.inf, 0.0, 1.5, -0.1])
def test_min_similarity_must_be_a_finite_share_above_zero(value):
    with pytest.raises(ValidationError, match="min_similarity"):
        golden({"TOKEN": {"text": "similar", "min_similarity": value}})
    assert (
        golden({"TOKEN": {"text": "similar", "min_similarity": 1}, **SKIP_LOGPROB}).compare["TOKEN"].min_similarity
        == 1.0
    )


def test_a_nan_similarity_written_in_a_file_is_refused_there_and_a_sound_one_is_read(tmp_path):
    path = tmp_path / "writer.json"
    path.write_text(json.dumps(golden_data({"TOKEN": {"text": "similar", "min_similarity": 0.75}})))
    assert load_golden(path).compare["TOKEN"].min_similarity == 0.75
    path.write_text(path.read_text().replace("0.75", "NaN"))
    with pytest.raises(InvalidChangeRequest, match=r"compare\.TOKEN\.min_similarity: is not a finite number \(NaN\)"):
        load_golden(path)


def test_the_approved_digest_covers_the_text_rule(tmp_path):
    server = FakeModelServer(writer, ready={"writer": [1]})
    server.configs["writer"] = parse_config(STREAMING)
    path = tmp_path / "writer.json"

    def write(min_similarity):
        rules = {"TOKEN": {"text": "similar", "min_similarity": min_similarity}, **SKIP_LOGPROB}
        path.write_text(json.dumps(golden(rules).model_dump(mode="json", exclude_defaults=True)))

    write(0.9)
    approved = golden_digest(path)
    assert bound_golden(server, path, approved).text_rules["TOKEN"].min_similarity == 0.9
    write(0.5)  # looser after approval
    assert golden_digest(path) != approved
    with pytest.raises(GoldenSetMismatch, match="changed since the change was approved"):
        bound_golden(server, path, approved)


def test_disagreement_between_two_versions_streams_names_the_first_differing_response():
    bound = bind(golden(), SIG)
    new = list(TOKENS)
    new[4], new[9] = " worst", " best"
    assert disagreement(bound, 0, seen(new), seen(TOKENS)) == 'case 0: TOKEN response 4: [" worst"] != expected [" of"]'
    assert disagreement(bound, 0, seen(TOKENS[:10]), seen(TOKENS)) == "case 0: TOKEN 10 responses vs 18"
    assert disagreement(bound, 0, seen(TOKENS), seen(TOKENS)) is None
    similar = bind(golden({"TOKEN": {"text": "similar", "min_similarity": 0.9}, **SKIP_LOGPROB}), SIG)
    assert disagreement(similar, 0, seen(new), seen(TOKENS)) is None  # judged by the golden set's own text rule
    assert disagreement(similar, 0, seen([" no"] * 18), seen(TOKENS)).startswith(
        'case 0: TOKEN text similarity 0.247 < 0.9: " no no no'
    )


def test_a_unary_golden_set_is_unaffected():
    unary = GoldenSet.model_validate(
        {"model": "writer", "cases": [{"inputs": {"PROMPT": ["It"]}, "expected": {"TOKEN": ["it"], "LOGPROB": [-0.5]}}]}
    )
    bound = bind(unary, UNARY)
    assert bound.expected[0]["TOKEN"].shape == (1,) and bound.text_rules == {}
    answer = {"TOKEN": np.array([b"it"], dtype=object), "LOGPROB": np.array([-0.5], np.float32)}
    assert case_problems(bound, 0, CaseObservation(outputs=answer)) == []
    assert case_problems(bound, 0, seen(TOKENS[:2])) == [
        "case 0: TOKEN shape [2, 1], expected [1]",
        "case 0: LOGPROB shape [2, 1], expected [1]",
    ]
    with pytest.raises(GoldenSetMismatch, match=r"cases\[0\]\.expected\.TOKEN: shape \[18, 1\] does not fit"):
        bind(golden(), UNARY)  # a stream's expectation for a model that does not stream

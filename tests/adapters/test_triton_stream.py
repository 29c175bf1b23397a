"""Streams from a real tritonserver: the sample generator (examples/model_repository) over gRPC.

One server for the module, all five versions loaded, v4 warm from its first request (so its breaks start at
once). Streams are sent one at a time, so the figures are the model's, not a queue's."""

import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from changeflow.adapters.triton_stream import TritonStreamClient
from changeflow.domain.model_config import apply_settings, parse_config, render_config, with_versions
from changeflow.domain.streams import StreamEnd, is_decoupled, joined_text, summarize
from changeflow.exceptions import InvalidSettings, ModelNotReady, ServerUnavailable
from changeflow.local.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "examples" / "model_repository" / "generator"
PROMPTS = (b"It was the", b"we had", b"In both countries")
TOKENS = 16  # the config's max_tokens


def prompt(text: bytes, max_tokens: int | None = None) -> dict[str, np.ndarray]:
    inputs = {"PROMPT": np.array([text], dtype=object)}
    if max_tokens is not None:
        inputs["MAX_TOKENS"] = np.array([max_tokens], dtype=np.int32)
    return inputs


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    """A stream client of a tritonserver serving generator versions 1-5, v4 breaking streams from the start."""
    from changeflow.local.triton_server import TritonServer

    workdir = tmp_path_factory.mktemp("triton-generator")
    repository = workdir / "model_repository"
    shutil.copytree(GENERATOR, repository / "generator", ignore=shutil.ignore_patterns("__pycache__"))
    config_file = repository / "generator" / "config.pbtxt"
    config = with_versions(parse_config(config_file.read_text()), [1, 2, 3, 4, 5])
    config_file.write_text(render_config(apply_settings(config, {"parameters.flaky_healthy_requests": "0"})))
    server = TritonServer(repository, name="generator", workdir=workdir, load_models=["generator"]).start()
    client = TritonStreamClient(server.grpc_url, name="generator", deadline_s=10.0)
    client.endpoint = server.endpoint("generator")  # the server as an environment file names it
    yield client
    client.close()
    server.stop()


def offline_tokens(version: int, text: bytes, count: int = TOKENS) -> str:
    """What the generator must stream, computed here from the version's own text (no server)."""
    sys.path.insert(0, str(GENERATOR))
    try:
        from generator_core import Bigrams
    finally:
        sys.path.remove(str(GENERATOR))
    words = list(Bigrams((GENERATOR / str(version) / "text.txt").read_text()).generate(text, count))
    return " ".join(words)


@pytest.mark.triton
def test_the_live_config_says_decoupled_and_v1_streams_every_token_then_its_end(generator):
    assert is_decoupled(generator.model_config("generator"))
    result = generator.stream("generator", prompt(PROMPTS[0]), version=1)
    assert result.end is StreamEnd.COMPLETE and result.completed and result.error is None
    assert result.version == 1 and result.responses == TOKENS
    assert joined_text(result, "TOKEN") == offline_tokens(1, PROMPTS[0])
    assert all(set(outputs) == {"TOKEN"} and outputs["TOKEN"].dtype == object for outputs in result.outputs)
    assert 0.012 < result.first_response_s < result.arrivals_s[-1] <= result.total_s  # after the 12 ms prefill
    assert summarize([result]).gap_p50_ms > 3.0  # 4 ms paced tokens (one gap may shrink in transit)
    short = generator.stream("generator", prompt(PROMPTS[1], max_tokens=3), version=1)
    assert short.responses == 3 and short.completed
    with pytest.raises(ModelNotReady, match="no_such_model"):
        generator.model_config("no_such_model")


@pytest.mark.triton
def test_v2_streams_v1s_text_and_v3_another(generator):
    for text in PROMPTS:
        v1, v2, v3 = (joined_text(generator.stream("generator", prompt(text), version=v), "TOKEN") for v in (1, 2, 3))
        assert v1 == v2 == offline_tokens(1, text)
        assert v3 == offline_tokens(3, text) and v3.split() != v1.split()


@pytest.mark.triton
def test_v4_breaks_streams_mid_way_and_each_is_reported_not_waited_on(generator):
    started = time.perf_counter()
    streams = [generator.stream("generator", prompt(PROMPTS[i % 3]), version=4, deadline_s=5.0) for i in range(20)]
    elapsed = time.perf_counter() - started
    broken = [s for s in streams if s.end is StreamEnd.ERROR]
    summary = summarize(streams)
    print(f"\nv4: {summary.errors} of {summary.streams} streams broke; {summary.first_errors}; {elapsed:.2f} s")
    assert len(broken) == 6  # 30 %: requests 4, 7, 10, 14, 17, 20
    assert all(s.responses == 3 and "stream broken after 3 tokens" in s.error and s.total_s < 1.0 for s in broken)
    assert summary.completed == 14 and summary.timeouts == 0 and summary.responses_max == TOKENS
    assert elapsed < 10.0  # no stream waited for its deadline


@pytest.mark.triton
def test_a_deadline_shorter_than_the_stream_reports_a_timeout_and_the_client_goes_on(generator):
    started = time.perf_counter()
    cut = generator.stream("generator", prompt(PROMPTS[0]), version=1, deadline_s=0.03)
    assert time.perf_counter() - started < 1.0
    assert cut.timed_out and cut.end is StreamEnd.TIMEOUT and not cut.completed and cut.error is None
    assert cut.total_s == 0.03 and cut.responses < TOKENS
    assert summarize([cut]).timeouts == 1
    after = generator.stream("generator", prompt(PROMPTS[0]), version=1)  # the cancelled stream left nothing behind
    assert after.completed and after.responses == TOKENS


@pytest.mark.triton
def test_v5s_first_response_is_slower_than_v1s(generator):
    streams: dict[int, list] = {1: [], 5: []}
    for i in range(20):  # interleaved, so a busy moment of the machine falls on both
        for version in (1, 5):
            result = generator.stream("generator", prompt(PROMPTS[i % 3], max_tokens=2), version=version)
            assert result.completed and result.responses == 2
            streams[version].append(result)
    v1, v5 = summarize(streams[1]), summarize(streams[5])
    shift = v5.first_response_p50_ms / v1.first_response_p50_ms - 1
    print(
        f"\nfirst response p50 / p95: v1 {v1.first_response_p50_ms:.1f} / {v1.first_response_p95_ms:.1f} ms, "
        f"v5 {v5.first_response_p50_ms:.1f} / {v5.first_response_p95_ms:.1f} ms (p50 +{100 * shift:.0f} %)"
    )
    assert shift > 0.15
    pairs = zip(streams[1], streams[5])
    assert sum(new.first_response_s > old.first_response_s for old, new in pairs) >= 16  # most pairs, not an outlier


def test_an_address_where_no_server_answers_raises_server_unavailable():
    client = TritonStreamClient(f"127.0.0.1:{free_port()}", name="nowhere", deadline_s=5.0)
    started = time.perf_counter()
    with pytest.raises(ServerUnavailable, match="nowhere: stream to generator"):
        client.stream("generator", prompt(b"hello"))
    assert time.perf_counter() - started < 5.0
    with pytest.raises(ServerUnavailable, match="does not answer"):
        client.model_config("generator")
    client.close()


@pytest.mark.parametrize("address", ["", "http://127.0.0.1:8001"])
def test_an_address_that_is_not_grpc_is_refused(address):
    with pytest.raises(InvalidSettings, match="grpc_url"):
        TritonStreamClient(address)


@pytest.mark.triton
def test_a_model_server_answers_a_streaming_model_over_the_stream_as_one_answer(generator):
    """What golden sets, probes and smoke tests call: ``infer`` of a decoupled model (which Triton refuses over
    HTTP) is the whole stream, each output's responses stacked, the latency its first response."""
    from changeflow.bootstrap import model_server
    from changeflow.exceptions import InferenceError

    server = model_server(generator.endpoint)
    answer = server.infer("generator", prompt(PROMPTS[0]), version=1)
    assert answer.model_version == 1 and answer.outputs["TOKEN"].shape == (TOKENS, 1)
    assert joined_text(answer.stream, "TOKEN") == offline_tokens(1, PROMPTS[0]) != ""
    assert answer.latency_ms == pytest.approx(answer.stream.first_response_s * 1000.0)
    failures = []
    for i in range(10):
        try:
            server.infer("generator", prompt(PROMPTS[i % 3]), version=4)
        except InferenceError as exc:
            failures.append(str(exc))
    assert failures and all("generator stream broke after 3 responses: " in f for f in failures), failures
    without_grpc = model_server(generator.endpoint.model_copy(update={"grpc_url": None}))
    with pytest.raises(InvalidSettings, match="grpc_url: is not set; a streaming"):
        without_grpc.infer("generator", prompt(PROMPTS[0]), version=1)

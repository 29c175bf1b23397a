"""The bake loop against fake servers: what it samples, when it stops, and what it concludes."""

import numpy as np
import pytest

from changeflow.domain.golden import GoldenSet, ModelSignature, TensorSpec, bind
from changeflow.domain.verdicts import BakeThresholds, Outcome
from changeflow.exceptions import ChangeCancelled, InferenceError, ServerUnavailable
from changeflow.services.bake import bake
from changeflow.services.verification import probe, request_rate, smoke_verdict
from tests.fakes import FakeModelServer

ADDER = ModelSignature(
    model="adder",
    max_batch_size=4,
    inputs=(TensorSpec(name="X", datatype="FP32", dims=(2,)),),
    outputs=(TensorSpec(name="SUM", datatype="FP32", dims=(1,)),),
)
GOLDEN = bind(
    GoldenSet.model_validate(
        {
            "model": "adder",
            "cases": [
                {"inputs": {"X": [1, 2]}, "expected": {"SUM": [3]}},
                {"inputs": {"X": [4, 5]}, "expected": {"SUM": [9]}},
            ],
        }
    ),
    ADDER,
)
LIMITS = BakeThresholds(max_error_rate=0.05, failure_limit=0, consecutive_error_limit=1)


def adder(fail_every: int = 0, wrong_version: int | None = None):
    calls = {"n": 0}

    def answer(model, version, inputs):
        calls["n"] += 1
        if fail_every and calls["n"] % fail_every == 0:
            raise InferenceError("injected per-response error")
        total = inputs["X"].sum(axis=1, keepdims=True).astype(np.float32)
        return {"SUM": total + 1 if version == wrong_version else total}

    return answer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.5)


def run_bake(server, version=2, seconds=5.0, cancelled=lambda: None, metrics=True):
    clock = Clock()
    return bake(
        server,
        server if metrics else None,
        GOLDEN,
        version,
        seconds=seconds,
        interval_s=1.0,
        probes_per_sample=10,
        limits=LIMITS,
        cancelled=cancelled,
        clock=clock,
        sleep=clock.sleep,
    )


def test_a_healthy_version_passes_after_the_whole_bake():
    report = run_bake(FakeModelServer(adder(), ready={"adder": [1, 2]}))
    assert report.verdict.outcome is Outcome.PASS and len(report.samples) >= 5
    assert all(s.server_requests == 10 and s.probe_failures == 0 for s in report.samples)


def test_error_responses_the_server_counts_as_successes_are_caught_by_the_probes():
    server = FakeModelServer(adder(fail_every=5), ready={"adder": [1, 2]})
    report = run_bake(server)
    assert report.verdict.outcome is Outcome.FAIL and len(report.samples) == 1  # stops at the first failure
    first = report.samples[0]
    assert (
        first.server_failures == 0
        and first.probe_failures == 2
        and "injected per-response error" in report.verdict.reason
    )


def test_wrong_outputs_fail_and_an_answer_from_another_version_fails_too():
    assert run_bake(FakeModelServer(adder(wrong_version=2), ready={"adder": [1, 2]})).verdict.outcome is Outcome.FAIL
    failures, problem = probe(FakeModelServer(adder(), ready={"adder": [1, 3]}), GOLDEN, 4, expect_version=2)
    assert failures == 4 and problem == "case 0: answered by v3, expected v2"


def test_a_server_that_stops_answering_makes_the_bake_an_error_not_a_pass():
    server = FakeModelServer(adder(), ready={"adder": [1, 2]})
    server.down = True
    with pytest.raises(
        ServerUnavailable
    ):  # no baseline of the counters: the bake step itself fails (and compensation runs)
        run_bake(server)
    report = run_bake(server, metrics=False)
    assert report.verdict.outcome is Outcome.ERROR and "could not be measured" in report.verdict.reason


def test_cancellation_is_raised_at_the_next_sample():
    asked = iter([None, "flow run cancelled during the bake"])
    with pytest.raises(ChangeCancelled, match="cancelled during the bake"):
        run_bake(FakeModelServer(adder(), ready={"adder": [1, 2]}), cancelled=lambda: next(asked))


def test_without_a_version_only_the_probes_judge():
    report = run_bake(FakeModelServer(adder(), ready={"adder": [1, 2]}), version=None)
    assert report.verdict.passed and all(s.server_requests == 0 and s.probe_requests == 10 for s in report.samples)


def test_smoke_verdict_and_request_rate_read_the_server():
    server = FakeModelServer(adder(), ready={"adder": [1]})
    assert (
        smoke_verdict(server, GOLDEN, 3, 1, "production").reason
        == "3 of 3 smoke requests to production answered right by v1"
    )

    def traffic(_seconds):
        for _ in range(6):
            server.infer("adder", {"X": np.ones((1, 2), np.float32)})

    assert request_rate(server, "adder", window_s=1.0, sleep=traffic) == 6.0  # the fake's scrapes are 1 s apart


def test_a_golden_set_changed_after_approval_is_refused(tmp_path):
    import json

    from changeflow.exceptions import GoldenSetMismatch
    from changeflow.services.verification import bound_golden, golden_digest

    class ConfiguredAdder(FakeModelServer):
        def model_config(self, model):
            from changeflow.adapters.triton import config_from_dict

            return config_from_dict(
                {
                    "name": "adder",
                    "max_batch_size": 4,
                    "input": [{"name": "X", "data_type": "TYPE_FP32", "dims": [2]}],
                    "output": [{"name": "SUM", "data_type": "TYPE_FP32", "dims": [1]}],
                }
            )

    path = tmp_path / "adder.json"
    path.write_text(json.dumps({"model": "adder", "cases": [{"inputs": {"X": [1, 2]}, "expected": {"SUM": [3]}}]}))
    approved = golden_digest(path)
    server = ConfiguredAdder(adder(), ready={"adder": [1]})
    assert len(bound_golden(server, path, approved)) == 1
    path.write_text(
        json.dumps({"model": "adder", "compare": {"SUM": {"compare": "skip"}}, "cases": [{"inputs": {"X": [1, 2]}}]})
    )  # lenient now
    with pytest.raises(GoldenSetMismatch, match="changed since the change was approved"):
        bound_golden(server, path, approved)


def test_a_candidate_wrong_on_one_replica_only_fails_the_bake_naming_that_replica():
    from changeflow.adapters.fleet import Fleet

    good = FakeModelServer(adder(), ready={"adder": [1, 2]}, name="triton-0")
    bad = FakeModelServer(adder(wrong_version=2), ready={"adder": [1, 2]}, name="triton-1")
    fleet = Fleet("production", [good, bad])
    report = run_bake(fleet)
    assert report.verdict.outcome is Outcome.FAIL
    assert "answered by triton-1" in report.verdict.reason and "triton-0" not in report.verdict.reason
    assert report.samples[0].server_requests == 10  # both replicas' counters, summed

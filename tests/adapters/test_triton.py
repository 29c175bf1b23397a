"""The Triton adapter against the real session server (tritonserver 2.51 from nvidia-pytriton)."""

import json

import numpy as np
import pytest

from changeflow.adapters.config_store import LocalConfigStore
from changeflow.adapters.triton import config_from_dict, config_to_json, with_versions
from changeflow.domain.model_config import differences, parse_config, render_config
from changeflow.domain.verdicts import Outcome, assess_golden
from changeflow.exceptions import ConfigError, InferenceError, ModelLoadError, ModelNotReady
from changeflow.services.verification import observe_golden

pytestmark = pytest.mark.triton
X = np.array([[0.5, -1.0, 2.0, 0.25]], dtype=np.float32)


def infer_many(server, n, version=None):
    ok, failed = 0, []
    for _ in range(n):
        try:
            server.infer("classifier", {"INPUT": X}, version=version)
            ok += 1
        except InferenceError as exc:
            failed.append(str(exc))
    return ok, failed


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_each_sample_version_loads_and_answers(classifier_v1, version):
    classifier_v1.load_versions("classifier", [version])
    assert classifier_v1.ready_versions("classifier") == [version]
    result = classifier_v1.infer("classifier", {"INPUT": X})
    assert result.model_version == version
    assert result.outputs["SCORES"].shape == (1, 3) and result.outputs["LABEL"].dtype == np.int32


def test_versions_one_and_two_pass_the_golden_set_and_three_fails_it(classifier_v1, golden):
    classifier_v1.load_versions("classifier", [1, 2, 3])
    verdicts = {v: assess_golden(golden, observe_golden(classifier_v1, golden, version=v)) for v in (1, 2, 3)}
    assert verdicts[1].outcome is Outcome.PASS and verdicts[2].outcome is Outcome.PASS
    assert verdicts[3].outcome is Outcome.FAIL and "golden cases wrong" in verdicts[3].reason


def test_version_four_passes_the_golden_set_then_fails_its_share_unseen_by_the_failure_counter(classifier_v1, golden):
    classifier_v1.load_versions("classifier", [4])
    assert (
        assess_golden(golden, observe_golden(classifier_v1, golden)).outcome is Outcome.PASS
    )  # 16 requests, still warming
    before = classifier_v1.scrape().for_version("classifier", 4)
    ok, failed = infer_many(classifier_v1, 134)  # requests 17..150; failures from the 51st on, every 10th
    assert len(failed) == 10 and "injected failure on request 60" in failed[0]
    after = classifier_v1.scrape().for_version("classifier", 4)
    # Measured blind spot: per-response errors count as successes in Triton's metrics.
    assert after.success - before.success == 134 and after.failure - before.failure == 0


def test_version_four_in_raise_mode_is_counted_as_backend_failure(classifier_v1):
    config = classifier_v1.model_config("classifier")
    config.parameters["flaky_failure_mode"].string_value = "raise"
    config.parameters["flaky_failure_share"].string_value = "0.25"
    config.parameters["flaky_healthy_requests"].string_value = "0"
    classifier_v1.load("classifier", with_versions(config, [4]))
    before = classifier_v1.scrape().for_version("classifier", 4)
    ok, failed = infer_many(classifier_v1, 40)
    after = classifier_v1.scrape().for_version("classifier", 4)
    assert len(failed) == 10
    assert after.failure_by_reason["BACKEND"] - before.failure_by_reason.get("BACKEND", 0) == 10


def test_version_four_can_be_slow(classifier_v1):
    config = classifier_v1.model_config("classifier")
    config.parameters["flaky_extra_latency_ms"].string_value = "60"
    classifier_v1.load("classifier", with_versions(config, [1, 4]))
    fast = min(classifier_v1.infer("classifier", {"INPUT": X}, version=1).latency_ms for _ in range(3))
    slow = min(classifier_v1.infer("classifier", {"INPUT": X}, version=4).latency_ms for _ in range(3))
    # 60 ms of work as timed on an idle core here (sample_model.WORK_PER_MS), not a 60 ms deadline: a faster
    # core does it sooner (56 ms was seen), a busy one later
    assert slow >= 40 > fast


def test_warm_standby_swap_keeps_the_old_version_loaded(classifier_v1):
    classifier_v1.load_versions("classifier", [1, 2])
    assert classifier_v1.ready_versions("classifier") == [1, 2]
    assert classifier_v1.infer("classifier", {"INPUT": X}).model_version == 2  # unversioned → highest READY
    assert classifier_v1.infer("classifier", {"INPUT": X}, version=1).model_version == 1
    classifier_v1.load_versions("classifier", [1])
    assert classifier_v1.infer("classifier", {"INPUT": X}).model_version == 1


def test_unload_and_load_from_repository(triton):
    triton.unload("feature_scaler")
    assert triton.ready_versions("feature_scaler") == []
    with pytest.raises(ModelNotReady, match="feature_scaler is not loaded"):
        triton.load_versions("feature_scaler", [1])
    triton.load("feature_scaler")
    assert triton.ready_versions("feature_scaler") == [1]


def test_repository_config_round_trip_is_lossless(classifier_v1, triton, triton_process):
    store = LocalConfigStore(triton_process.repository)
    for model in ("classifier", "feature_scaler"):
        original = store.read_config(model)
        assert parse_config(render_config(original)) == original
        served = triton.model_config(model)
        # Triton fills in defaults; everything the file says is served as the file says it.
        assert differences(original, served) == [], model
        assert config_from_dict(json.loads(config_to_json(served))) == served


def test_config_written_and_reloaded_is_served(triton, triton_process):
    store = LocalConfigStore(triton_process.repository)
    before = store.read_config_text("feature_scaler")
    try:
        config = parse_config(before)
        config.parameters["scale"].string_value = "3.0"
        store.write_config_text("feature_scaler", render_config(config))
        triton.load("feature_scaler")
        out = triton.infer("feature_scaler", {"INPUT": np.ones((1, 4), dtype=np.float32)}).outputs["OUTPUT"]
        assert out.tolist() == [[3.0, 3.0, 3.0, 3.0]]
    finally:
        store.write_config_text("feature_scaler", before)
        triton.load("feature_scaler")
    assert store.read_config_text("feature_scaler") == before


def test_malformed_config_is_rejected_by_parser_and_by_triton(triton, triton_process):
    store = LocalConfigStore(triton_process.repository)
    with pytest.raises(ConfigError, match=r"broken_classifier/config.pbtxt: not a valid Triton model config: 4:"):
        store.read_config("broken_classifier")
    with pytest.raises(ModelLoadError, match="load broken_classifier failed: .*broken_classifier"):
        triton.load("broken_classifier")
    assert triton.ready_versions("broken_classifier") == []

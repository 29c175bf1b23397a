"""Config changes on the real production Triton: applied and verified, or reverted byte for byte."""

import numpy as np
import pytest
from changeflow.flows.config_change import config_change

from changeflow import State
from changeflow.bootstrap import config_store, record_store
from changeflow.domain.model_config import setting_of
from changeflow.exceptions import ConfigError, ModelLoadError
from changeflow.settings.loader import load_change_request
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.triton
ONES = np.ones((1, 4), dtype=np.float32)


def tweak(**settings):
    base = load_change_request(EXAMPLES / "changes" / "standard-config-tweak.yaml")
    return base.model_copy(update={"change": base.change.model_copy(update={"set": settings})})


def test_config_change_is_applied_and_served(environment, production):
    before = config_store(environment.production).read_config_text("feature_scaler")
    result = config_change(
        tweak(**{"dynamic_batching.max_queue_delay_microseconds": 500, "parameters.scale": "2.0"}), environment
    )
    assert result.state is State.CLOSED
    served = production.model_config("feature_scaler")
    assert setting_of(served, "dynamic_batching.max_queue_delay_microseconds") == 500
    assert production.infer("feature_scaler", {"INPUT": ONES}).outputs["OUTPUT"].tolist() == [[2.0] * 4]
    assert config_store(environment.production).read_config_text("feature_scaler") != before


def test_a_config_that_breaks_the_model_is_reverted_byte_for_byte(environment, production):
    store = config_store(environment.production)
    before = store.read_config_text("feature_scaler")
    with pytest.raises(ModelLoadError, match="feature_scaler"):
        config_change(tweak(**{"parameters.scale": "not-a-number"}), environment)  # initialize() fails in Triton
    assert store.read_config_text("feature_scaler") == before
    assert production.ready_versions("feature_scaler") == [1]
    assert production.infer("feature_scaler", {"INPUT": ONES}).outputs["OUTPUT"].tolist() == [[1.0] * 4]
    record = record_store(environment.records).load("CHG-0001")
    assert record.state is State.ROLLED_BACK
    assert [s.name for s in record.rollback_steps] == ["restore_config", "verify_restored"]
    assert "byte for byte" in record.rollback_steps[-1].detail


def test_config_change_keeps_the_serving_versions(environment, production):
    production.load_versions("classifier", [1, 2])  # e.g. mid-deployment warm standby, set by override
    before = config_store(environment.production).read_config_text("classifier")
    request = tweak(**{"dynamic_batching.max_queue_delay_microseconds": 50}).model_copy(update={"model": "classifier"})
    assert config_change(request, environment).state is State.CLOSED
    assert production.ready_versions("classifier") == [1, 2]
    assert config_store(environment.production).read_config_text("classifier") != before


def test_a_bad_setting_is_refused_before_anything_is_written(environment, production):
    store = config_store(environment.production)
    before = store.read_config_text("feature_scaler")
    with pytest.raises(ConfigError, match="dynamic_batching.max_delay: 'max_delay' is not a settable field"):
        config_change(tweak(**{"dynamic_batching.max_delay": 5}), environment)
    assert store.read_config_text("feature_scaler") == before
    record = record_store(environment.records).load("CHG-0001")
    assert record.state is State.ABORTED and not record.production_touched

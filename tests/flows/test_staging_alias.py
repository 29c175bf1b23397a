"""Issue #23: a staging endpoint that is production under a second name (here a forwarder on another port,
which the environment's validator cannot tell apart). Staging v3 loads it on production; the stage step sees
that, the record says production was touched, and the change is rolled back to v1, not aborted as untouched."""

import numpy as np
import pytest
from changeflow.flows.model_deployment import model_deployment

from changeflow import State
from changeflow.bootstrap import record_store
from changeflow.settings.loader import load_change_request
from tests.conftest import EXAMPLES
from tests.second_name import second_name

pytestmark = pytest.mark.triton
X = np.array([[0.5, -1.0, 2.0, 0.25]], dtype=np.float32)


def test_staging_that_changed_production_is_rolled_back_not_aborted(environment, production):
    base = load_change_request(EXAMPLES / "changes" / "normal-deploy-v3.yaml")
    request = base.model_copy(update={"change": base.change.model_copy(update={"from_version": 1})})
    with second_name(environment.production.http_url) as alias:
        staging = environment.staging.model_copy(
            update={"http_url": alias, "metrics_url": None, "repository": None, "repository_headers": {}}
        )
        result = model_deployment(request, environment.model_copy(update={"staging": staging}))
    assert result.state is State.ROLLED_BACK, result.outcome
    assert (production.ready_versions("classifier"), production.infer("classifier", {"INPUT": X}).model_version) == (
        [1],
        1,
    )
    record = record_store(environment.records).load(request.id)
    assert record.production_touched and [s.name for s in record.execution_steps] == ["check_serving_version", "stage"]
    stage = record.execution_steps[-1]
    assert (
        stage.outcome == "failed"
        and "production changed during stage: production: ready_versions: [1] → [3]" in stage.detail
    )
    assert [(s.name, s.outcome) for s in record.rollback_steps] == [
        ("restore_version", "ok"),
        ("verify_restored", "ok"),
    ]
    assert record.serving_version_after == 1 and "untouched" not in record.outcome

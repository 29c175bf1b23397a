"""Production observed around the stage step, with fakes: one server under two names ("staging" shares
production's state) is seen changing production, and the record says production was touched. The step
is the real task's function (``stage.fn``), run without Prefect."""

import numpy as np
import pytest
from changeflow.tasks.model_deployment import stage
from prefect.logging import disable_run_logger

from changeflow.bootstrap import Services
from changeflow.domain.model_config import parse_config
from changeflow.domain.record import StepOutcome
from changeflow.exceptions import ModelLoadError, ServerUnavailable, ServingMismatch
from changeflow.settings.environment import Environment, RecordStoreSettings, ServerEndpoint
from tests.fakes import FakeLocks, FakeModelServer, FakeRecordStore
from tests.services.test_recorder_and_orphans import opened

CONFIG = parse_config(
    'name: "m"\nbackend: "python"\nmax_batch_size: 4\ninput { name: "X" data_type: TYPE_FP32 dims: 2 }\noutput { name: "Y" data_type: TYPE_FP32 dims: 2 }'
)


def answer(model, version, inputs):
    return {"Y": np.zeros((1, 2), np.float32)}


def services(aliased: bool) -> Services:
    """Production serving m v1, and a staging that is another server or, ``aliased``, production itself."""
    production = FakeModelServer(answer, ready={"m": [1]}, name="production")
    production.configs["m"] = CONFIG
    staging = FakeModelServer(answer, name="staging")
    if aliased:
        staging.ready_map, staging.configs = production.ready_map, production.configs
    environment = Environment(
        production=ServerEndpoint(name="production", http_url="http://127.0.0.1:9"),
        staging=ServerEndpoint(name="staging", http_url="http://127.0.0.1:10"),
        records=RecordStoreSettings(url="sqlite:///unused.db"),
    )
    return Services(
        environment=environment,
        production=production,
        metrics=production,
        staging=staging,
        records=FakeRecordStore(),
        locks=FakeLocks(),
    )


def staged(run, s: Services, load=None):
    """The stage step loading m v3 on staging (or doing ``load`` instead)."""
    if load is not None:
        s.staging.load_versions = lambda model, versions, base_config=None: load()
    with disable_run_logger():
        return stage.fn(run, s, "m", 3)


def test_staging_that_is_production_under_another_name_is_seen_and_the_record_says_touched():
    run, s = opened(), services(aliased=True)
    verdict = staged(run, s)
    assert (
        not verdict.passed
        and "production changed during stage: production: ready_versions: [1] → [3]" in verdict.reason
    )
    saved = run._store.load(run.record.id)
    assert saved.production_touched and saved.execution_steps[-1].outcome is StepOutcome.FAILED
    assert "ready_versions: [1] → [3]" in saved.execution_steps[-1].detail


def test_a_staging_of_its_own_leaves_production_untouched_and_says_what_it_saw():
    run, s = opened(), services(aliased=False)
    verdict = staged(run, s)
    assert verdict.passed and verdict.reason == "production unchanged: production READY [1], same config"
    assert s.staging.ready_versions("m") == [3] and not run._store.load(run.record.id).production_touched


def test_a_failed_load_that_changed_production_names_both_and_touches():
    run, s = opened(), services(aliased=True)

    def half_done():
        FakeModelServer.load_versions(s.staging, "m", [])  # the refused load left production without its model
        raise ModelLoadError("staging: load of m failed")

    with pytest.raises(ServingMismatch, match=r"ready_versions: \[1\] → \[\].*stage failed: staging: load of m failed"):
        staged(run, s, half_done)
    assert run.record.production_touched


def test_production_unseen_afterwards_is_taken_as_touched_and_a_retry_compares_with_the_first_sight():
    run, s = opened(), services(aliased=True)

    def load_then_down():
        FakeModelServer.load_versions(s.staging, "m", [3])
        s.production.down = True

    with pytest.raises(ServerUnavailable, match="could not be observed after stage, taken as touched"):
        staged(run, s, load_then_down)
    assert run.record.production_touched
    s.production.down = False
    del s.staging.load_versions
    retry = staged(run, s)  # production now serves [3]: still a change from the [1] seen first
    assert not retry.passed and "[1] → [3]" in retry.reason


def test_a_failed_load_that_left_production_alone_is_raised_as_it_was():
    run, s = opened(), services(aliased=False)

    def refused():
        raise ModelLoadError("staging: load of m failed")

    with pytest.raises(ModelLoadError):
        staged(run, s, refused)
    assert not run.record.production_touched

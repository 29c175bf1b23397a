"""Flow tests: one Prefect test server and a staging Triton beside the session's production Triton."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


@pytest.fixture
def environment(triton_process, staging_process, tmp_path, prefect_server):
    """Production (the session Triton, reset to its repository config) and staging; fresh records."""
    from changeflow.adapters.config_store import LocalConfigStore
    from changeflow.bootstrap import model_server
    from changeflow.settings.environment import BakeSettings, Environment, RecordStoreSettings

    env = Environment(
        production=triton_process.endpoint("production"),
        staging=staging_process.endpoint("staging"),
        records=RecordStoreSettings(url=f"sqlite:///{tmp_path / 'records.db'}", publish=False),
        bake=BakeSettings(interval_s=0.5, probes_per_sample=20, smoke_requests=10),
    )
    store = LocalConfigStore(triton_process.repository)
    production = model_server(env.production)
    originals = {model: store.read_config_text(model) for model in ("classifier", "feature_scaler")}
    for model in originals:
        production.load(model, store.read_config(model))
    yield env
    for model, text in originals.items():  # leave the session repository and server as found
        store.write_config_text(model, text)
        production.load(model, store.read_config(model))


@pytest.fixture
def production(environment):
    from changeflow.bootstrap import model_server

    return model_server(environment.production)

"""changeflow on a distributed Prefect, for real: a private PostgreSQL holding both Prefect's database and
the change records (own database), a Prefect server on it, the change flows deployed to one process work
pool, and two workers (separate processes) taking their runs. Skipped, saying why, without PostgreSQL."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest


@dataclass
class Distributed:
    api_url: str
    records_url: str
    environment: object
    workers: object
    prefect: object


@pytest.fixture(scope="module")
def distributed(postgres, triton_process, staging_process, tmp_path_factory):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from changeflow.adapters.config_store import LocalConfigStore
    from changeflow.adapters.sql_migrate import upgrade
    from changeflow.bootstrap import model_server
    from changeflow.local.executor import executor_configuration
    from changeflow.local.prefect_server import LocalPrefectServer
    from changeflow.local.serve import POOL, deploy_change_flows
    from changeflow.local.workers import LocalWorkers
    from changeflow.settings.environment import BakeSettings, Environment, RecordStoreSettings
    from changeflow.settings.loader import load_governance
    from tests.conftest import EXAMPLES

    records = postgres.create_database("changeflow_records")
    upgrade(postgres.url(records))  # the schema owner (a DBA) migrates; workers and the CLI log in as a writer
    records_url = postgres.app_url(records)
    prefect = LocalPrefectServer(
        home=tmp_path_factory.mktemp("prefect-pg"),
        database_url=postgres.url(postgres.create_database("prefect"), driver="asyncpg"),
    ).start()
    environment = Environment(
        production=triton_process.endpoint("production"),
        staging=staging_process.endpoint("staging"),
        records=RecordStoreSettings(url=records_url),
        bake=BakeSettings(interval_s=0.5, probes_per_sample=10, smoke_requests=5),
    )
    configs = LocalConfigStore(triton_process.repository)
    originals = {model: configs.read_config_text(model) for model in ("classifier", "feature_scaler")}
    governance = load_governance(EXAMPLES, approval_timeout_s=180, approval_poll_s=1)
    worker_env = {
        "PREFECT_API_URL": prefect.api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PATH": f"{os.path.dirname(os.sys.executable)}:{os.environ.get('PATH', '')}",
    }
    try:
        with temporary_settings(updates={PREFECT_API_URL: prefect.api_url}):
            deploy_change_flows(safety_net_every_s=3600, drift_every_s=None)
            from datetime import datetime

            clocks = {
                "standard": datetime.fromisoformat("2026-11-25T10:00:00+01:00"),
                "normal": datetime.fromisoformat("2026-11-25T22:00:00+01:00"),
            }
            worker_env.update(
                executor_configuration(tmp_path_factory.mktemp("executor"), environment, governance, clocks)
            )
            with LocalWorkers(POOL, count=2, env=worker_env, limit=1) as workers:
                yield Distributed(prefect.api_url, records_url, environment, workers, prefect)
    finally:
        prefect.stop()
        production = model_server(environment.production)
        for model, text in originals.items():  # leave the session's Triton as found
            configs.write_config_text(model, text)
            production.load(model, configs.read_config(model))

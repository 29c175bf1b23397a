"""A real `prefect server start` for the command-line tests (what a user runs), once per session."""

import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory):
    from changeflow.local.prefect_server import LocalPrefectServer

    server = LocalPrefectServer(home=tmp_path_factory.mktemp("prefect-home")).start()
    yield server.api_url
    server.stop()


@pytest.fixture(scope="session")
def records_db_url(tmp_path_factory):
    """One record database for the session's command-line runs, as a team shares one."""
    return f"sqlite:///{tmp_path_factory.mktemp('records') / 'records.db'}"


@pytest.fixture
def cli_env(prefect_api, records_db_url):
    return {
        **os.environ,
        "PREFECT_API_URL": prefect_api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "CHANGEFLOW_RECORDS_URL": records_db_url,
    }


CLOCKS = {
    "normal": "2026-11-25T22:00:00+01:00",
    "emergency": "2026-11-25T22:00:00+01:00",
    "standard": "2026-11-25T10:00:00+01:00",
}


@pytest.fixture(scope="session")
def change_worker(prefect_api, records_db_url, triton_process, staging_process, tmp_path_factory):
    """The team's executor for the command-line tests, as `changeflow serve` sets one up: the change flows
    deployed on the session's Prefect server, and a worker whose own configuration (environment file,
    sealed governance bundle, record-signing key, a clock per change type for the tests) judges every
    run. `changeflow submit` only creates runs carrying the request."""
    import shutil
    from datetime import datetime

    from prefect.settings import PREFECT_API_URL, temporary_settings

    from changeflow.local.executor import executor_configuration
    from changeflow.local.serve import deploy_change_flows, start_worker
    from changeflow.settings.environment import Environment, RecordStoreSettings
    from changeflow.settings.loader import load_governance
    from tests.conftest import EXAMPLES

    environment = Environment(
        production=triton_process.endpoint("production"),
        staging=staging_process.endpoint("staging"),
        records=RecordStoreSettings(url=records_db_url),
    )
    governance = load_governance(EXAMPLES, approval_timeout_s=120, approval_poll_s=1)
    scratch = tmp_path_factory.mktemp("cli-worker")
    configuration = executor_configuration(
        scratch / "executor", environment, governance, {k: datetime.fromisoformat(v) for k, v in CLOCKS.items()}
    )
    with temporary_settings(updates={PREFECT_API_URL: prefect_api}):
        deploy_change_flows(safety_net_every_s=None, pool="changeflow-cli", drift_every_s=None)
    worker = start_worker("changeflow-cli", scratch, {**os.environ, **configuration, "PREFECT_API_URL": prefect_api})
    yield configuration
    worker.terminate()
    try:
        worker.wait(30)
    except Exception:
        worker.kill()
    shutil.rmtree(scratch / "executor", ignore_errors=True)


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dist), str(ROOT)],
        capture_output=True,
        text=True,
    )
    if built.returncode != 0:
        pytest.skip(
            f"the wheel could not be built here (pip wheel needs setuptools from the package index): {built.stderr[-500:]}"
        )
    return next(dist.glob("changeflow-*.whl"))


@pytest.fixture(scope="session")
def fresh_venv(wheel, tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--quiet",
            "--no-deps",
            str(wheel),
        ],
        check=True,
    )
    purelib = Path(
        subprocess.run(
            [venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (purelib / "project_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return venv


def in_venv(venv: Path, *args: str, cwd: Path, timeout: float = 120, **env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PREFECT_API_URL")}
    environment.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{environment['PATH']}", PREFECT_SERVER_ANALYTICS_ENABLED="false", **env
    )
    return subprocess.run(
        [str(venv / "bin" / "changeflow"), *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )

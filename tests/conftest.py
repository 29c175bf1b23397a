"""Shared fixtures: one real Triton for the whole session (started on first use)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import changeflow.kinds  # noqa: F401 (binds every kind's spec into ChangeRequest, as `import changeflow`'s names do)

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
APPROVERS = ("alice", "bob", "carol", "dana", "dave", "eve", "frank", "mallory", "oscar")
_enrolled: list[str] = []
_stub_folders_before: set[Path] = set()


def pytest_configure(config):
    """The session's own approvers, enrolled before anything loads governance (subprocesses inherit the
    paths): keys, TOTP secrets and the public-key registry in a temporary folder, nothing committed."""
    import tempfile

    from changeflow.adapters.credentials import enrol
    from changeflow.local.triton_server import stub_folders

    _stub_folders_before.update(stub_folders())
    home = Path(tempfile.mkdtemp(prefix="changeflow-approvers-"))
    _enrolled.append(str(home))
    # tests write golden sets to temporary folders: allow those (tests/services/test_golden_roots.py sets its own)
    os.environ["CHANGEFLOW_GOLDEN_ROOTS"] = tempfile.gettempdir()
    os.environ.update(
        CHANGEFLOW_HOME=str(home),
        CHANGEFLOW_KEYS=str(home / "keys"),
        CHANGEFLOW_APPROVER_SECRETS=str(home / "approver-secrets.yaml"),
        CHANGEFLOW_APPROVER_KEYS=str(home / "approver-keys.yaml"),
    )
    for name in APPROVERS:
        enrol(name, home / "keys", home / "approver-secrets.yaml", home / "approver-keys.yaml")
    from changeflow.signing import generate_key

    generate_key(home / "executor.pem")  # the session is the executor: its record versions are signed and checked
    os.environ["CHANGEFLOW_EXECUTOR_KEY"] = str(home / "executor.pem")


# What a fixture starts, by the fixture's name: a test that uses one, directly or through another fixture, carries the
# mark, so `pytest -m "not triton and not prefect and not postgres and not prometheus and not browser and not wheel"`
# (`make check`) is the set that starts no server. Module-local fixtures are named here too (`guarded` is a Prefect server
# in test_guarded_worker.py and test_prefect_auth.py, `drill_prefect` one on PostgreSQL in test_recovery.py); a test that
# starts something itself, not through a fixture, carries an explicit mark in its module (e.g. test_triton_server.py).
STARTS = {
    "triton_process": ("triton",),  # the session's tritonserver
    "staging_process": ("triton",),  # a second tritonserver
    "prefect_server": ("prefect",),  # prefect_test_harness (tests/flows/conftest.py)
    "prefect_api": ("prefect",),  # `prefect server start` (tests/e2e/conftest.py)
    "guarded": ("prefect",),  # a LocalPrefectServer of the module's own
    "distributed": ("prefect",),  # a LocalPrefectServer on PostgreSQL and two workers (tests/distributed/conftest.py)
    "drill_prefect": ("prefect", "postgres"),  # Prefect on PostgreSQL where it can run, else prefect_server
    "postgres": ("postgres",),  # a private PostgreSQL (initdb + pg_ctl)
    "prometheus": ("prometheus",),  # a private Prometheus (tests/adapters/test_prometheus.py)
    "wheel": ("wheel",),  # pip wheel of the checkout
    "fresh_venv": ("wheel",),  # a venv with that wheel installed
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        starts = {mark for name in item.fixturenames for mark in STARTS.get(name, ())}
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("records_url") == "postgresql":  # asked with getfixturevalue
            starts.add("postgres")
        for mark in sorted(starts - {m.name for m in item.iter_markers()}):
            item.add_marker(mark)


def pytest_unconfigure(config):
    from changeflow.local.triton_server import remove_empty, stub_folders

    for folder in _enrolled:
        shutil.rmtree(folder, ignore_errors=True)
    remove_empty(
        set(stub_folders()) - _stub_folders_before
    )  # of Tritons the tests killed on purpose (with their parents)


@pytest.fixture(scope="session")
def triton_process(tmp_path_factory):
    """A real tritonserver on a private copy of the sample repository plus the malformed model."""
    from changeflow.local.triton_server import TritonServer

    workdir = tmp_path_factory.mktemp("triton-session")
    repository = workdir / "model_repository"
    shutil.copytree(EXAMPLES / "model_repository", repository)
    shutil.copytree(EXAMPLES / "bad" / "broken_classifier", repository / "broken_classifier")
    server = TritonServer(repository, name="session", workdir=workdir, load_models=["classifier", "feature_scaler"])
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def staging_process(tmp_path_factory):
    from changeflow.local.triton_server import TritonServer

    workdir = tmp_path_factory.mktemp("triton-staging")
    shutil.copytree(EXAMPLES / "model_repository", workdir / "model_repository")
    server = TritonServer(workdir / "model_repository", name="staging", workdir=workdir, restricted_key="staging-key")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def triton(triton_process):
    from changeflow.adapters.triton import TritonModelServer

    return TritonModelServer(triton_process.http_url, triton_process.metrics_url, name="session")


@pytest.fixture
def classifier_v1(triton, triton_process):
    """The session server's classifier exactly as its repository config says (v1), before and after.

    Loaded with the file's config as an explicit override: after an override, a plain load re-reads
    the file but Triton (2.51) keeps serving the old override's config (measured), so be explicit.
    """
    from changeflow.adapters.config_store import LocalConfigStore

    store = LocalConfigStore(triton_process.repository)
    text = store.read_config_text("classifier")  # a change writes its desired state there: put it back too
    triton.load("classifier", store.read_config("classifier"))
    yield triton
    store.write_config_text("classifier", text)
    triton.load("classifier", store.read_config("classifier"))


@pytest.fixture(scope="session")
def golden():
    """The sample classifier's golden set, bound to the model's own config.pbtxt (no server needed)."""
    from changeflow.domain.golden import bind, signature
    from changeflow.domain.model_config import parse_config
    from changeflow.services.verification import load_golden

    config = parse_config((EXAMPLES / "model_repository" / "classifier" / "config.pbtxt").read_text())
    return bind(load_golden(EXAMPLES / "golden" / "classifier.json"), signature(config))


@pytest.fixture(scope="session")
def postgres():
    """One private PostgreSQL for the session (Debian's package); skipped, saying why, where it cannot run."""
    from changeflow.local.postgres import LocalPostgres, missing_reason

    if (reason := missing_reason()) is not None:
        pytest.skip(reason)
    with LocalPostgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def records_url(request, tmp_path):
    """A fresh, empty record database of each kind changeflow supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'records.db'}"
    server = request.getfixturevalue("postgres")
    return server.url(server.create_database(f"records_{tmp_path.name.lower().replace('-', '_')[-40:]}"))

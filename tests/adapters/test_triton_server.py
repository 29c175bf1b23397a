"""Starting and stopping real tritonserver processes: ports, restricted API, no orphans."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from changeflow.adapters.triton import TritonModelServer
from changeflow.exceptions import ModelLoadError, TritonStartError
from changeflow.local.triton_server import TritonServer, group_members, remove_empty, stub_folders

pytestmark = pytest.mark.triton
REPOSITORY = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "model_repository")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead for our purposes
        return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def test_two_servers_side_by_side_with_a_restricted_repository_api(tmp_path):
    staging = TritonServer(
        REPOSITORY, name="staging", copy_repository=True, load_models=["classifier"], restricted_key="s3cret"
    )
    production = TritonServer(REPOSITORY, name="production", copy_repository=True, load_models=["classifier"])
    with staging, production:
        assert staging.http_port != production.http_port
        assert staging.repository != production.repository  # private copies
        without_key = TritonModelServer(staging.http_url, name="staging")
        with pytest.raises(ModelLoadError, match="restricted.*changeflow-admin-key"):
            without_key.repository_index()
        with_key = TritonModelServer(staging.http_url, name="staging", repository_headers=staging.repository_headers)
        assert with_key.ready_versions("classifier") == [1]
        assert TritonModelServer(production.http_url).ready_versions("classifier") == [1]
        pids = [staging.process.pid, production.process.pid]
        stub_pids = group_members(pids[0]) + group_members(pids[1])
        assert len(stub_pids) >= 4  # each server plus its Python backend stub(s)
    survivors = [(p, open(f"/proc/{p}/cmdline").read()[:80]) for p in stub_pids if alive(p)]
    assert not survivors, f"outlived stop(): {survivors}"


def test_stop_escalates_to_sigkill_after_the_grace_period():
    server = TritonServer(REPOSITORY, name="stubborn", copy_repository=True, stop_grace_s=0.5).start()
    pid = server.process.pid
    os.kill(pid, signal.SIGSTOP)  # a stopped process ignores SIGTERM until continued
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 5 and not alive(pid)


def test_a_killed_parent_takes_its_server_along(tmp_path):
    """An interrupted run (the starting process SIGKILLed) leaves no tritonserver behind."""
    script = textwrap.dedent(
        f"""
        import sys, time
        from changeflow.local.triton_server import TritonServer, group_members
        server = TritonServer({REPOSITORY!r}, name="orphan-check", copy_repository=True, load_models=["classifier"]).start()
        print(server.process.pid, server.workdir, flush=True)
        time.sleep(600)
        """
    )
    before = set(stub_folders())
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pid, workdir = parent.stdout.readline().split(maxsplit=1)
    pid = int(pid)
    members = group_members(pid)
    assert alive(pid) and len(members) >= 2
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(alive(p) for p in members):
        time.sleep(0.2)
    assert not any(alive(p) for p in members), "tritonserver outlived its killed parent"
    shutil.rmtree(workdir.strip(), ignore_errors=True)  # the killed parent could not remove its work folder
    remove_empty(set(stub_folders()) - before)  # nor the Python backend's /tmp/python_env_* folder


def test_a_killed_server_leaves_no_python_backend_folder_in_tmp():
    """The Python backend makes /tmp/python_env_* per server (hard-coded /tmp) and a killed server leaves it."""
    before = set(stub_folders())
    server = TritonServer(
        REPOSITORY, name="stub-folder", copy_repository=True, load_models=["classifier"], stop_grace_s=0.0
    ).start()
    made = set(stub_folders()) - before
    server.stop()  # no grace: killed outright
    assert made and not any(folder.exists() for folder in made)


def test_a_missing_repository_is_a_clear_error(tmp_path):
    with pytest.raises(TritonStartError, match="does not exist"):
        TritonServer(tmp_path / "nowhere").start()


def test_a_model_that_cannot_load_at_start_reports_the_log(tmp_path):
    with pytest.raises(TritonStartError, match="exited with code .*broken|not ready"):
        TritonServer(
            os.path.join(REPOSITORY, "..", "bad"), name="bad", load_models=["broken_classifier"], startup_timeout_s=30
        ).start()


def test_a_server_without_explicit_model_control_is_told_apart_without_changing_it(tmp_path, triton):
    """What a user's own Triton may run with: the checklist asks each server before anything is touched."""
    import shutil

    from tests.conftest import EXAMPLES

    repository = tmp_path / "repository"
    shutil.copytree(EXAMPLES / "model_repository" / "feature_scaler", repository / "feature_scaler")
    with TritonServer(repository, name="polling", model_control_mode="poll", workdir=tmp_path / "work") as polling:
        server = TritonModelServer(polling.http_url, name="polling")
        ok, detail = server.explicit_model_control()
        assert not ok and "fix: start tritonserver with --model-control-mode=explicit" in detail, detail
        assert server.ready_versions("feature_scaler") == [1]  # the probe changed nothing
    before = triton.repository_index()
    assert triton.explicit_model_control() == (True, "session accepts explicit model loads")
    assert triton.repository_index() == before


def test_a_server_leaves_no_work_directory_behind(tmp_path):
    from tests.conftest import EXAMPLES

    server = TritonServer(EXAMPLES / "model_repository", name="tidy", copy_repository=True).start()
    workdir = server.workdir
    assert (workdir / "model_repository" / "classifier").is_dir()
    server.stop()
    assert not workdir.exists()


def test_a_server_killed_and_started_again_leaves_nothing_behind():
    """A supervisor's restart after a kill (the fault drills' production_down): the stop after it removes the
    work directory the first start made and the backend folder the killed server left."""
    from changeflow.local.processes import signal_group

    before = set(stub_folders())
    server = TritonServer(REPOSITORY, name="restarted", copy_repository=True, load_models=["classifier"]).start()
    workdir, made = server.workdir, set(stub_folders()) - before
    signal_group(server.process.pid, signal.SIGKILL)
    server.process.wait()
    server.process = None
    server.start()
    server.stop()
    assert made and not workdir.exists() and not any(folder.exists() for folder in made)

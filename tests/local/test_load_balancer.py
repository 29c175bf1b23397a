"""A real load balancer (Debian's haproxy) in front of real Tritons: it spreads requests over the replicas,
keeps serving when one is SIGKILLed, and ``changeflow triton up --replicas 2`` serves a fleet through it."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml

from changeflow.bootstrap import model_server
from changeflow.local.load_balancer import LoadBalancer, missing_reason
from changeflow.local.processes import signal_group
from changeflow.local.triton_server import TritonServer
from changeflow.settings.environment import Environment

# the tests that start Tritons and haproxy; the last one starts nothing (it runs in `make check`)
needs_haproxy = pytest.mark.skipif(missing_reason() is not None, reason=f"load balancer: {missing_reason()}")
ROOT = Path(__file__).resolve().parents[2]
CLI = shutil.which("changeflow") or str(Path(sys.executable).parent / "changeflow")
REQUEST = {"inputs": [{"name": "INPUT", "datatype": "FP32", "shape": [1, 4], "data": [0.5, -1.0, 2.0, 0.25]}]}


@pytest.fixture
def fleet(tmp_path):
    """Two Tritons serving one copy of the sample repository (``classifier`` v1), a load balancer in front."""
    repository = tmp_path / "model_repository"
    shutil.copytree(ROOT / "examples" / "model_repository", repository, ignore=shutil.ignore_patterns("__pycache__"))
    replicas = [TritonServer(repository, name=f"replica-{i}", load_models=["classifier"]) for i in (1, 2)]
    try:
        for replica in replicas:
            replica.start()
        with LoadBalancer([r.http_url for r in replicas], workdir=tmp_path / "lb") as balancer:
            yield balancer, replicas
    finally:
        for replica in replicas:
            replica.stop()


def infer(client: httpx.Client, url: str) -> bool:
    try:
        response = client.post(f"{url}/v2/models/classifier/infer", json=REQUEST, timeout=5.0)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and {o["name"] for o in response.json()["outputs"]} == {"SCORES", "LABEL"}


def successes(replica: TritonServer) -> int:
    """The replica's own count of successful ``classifier`` requests (its /metrics)."""
    text = httpx.get(replica.metrics_url, timeout=5.0).text
    found = re.search(r'^nv_inference_request_success\{model="classifier",version="1"\} (\d+)', text, re.M)
    return int(found.group(1)) if found else 0


def counted(replicas: list[TritonServer], total: int, timeout_s: float = 10.0) -> list[int]:
    """Each replica's count, once they add up to ``total`` (metrics refresh every 500 ms)."""
    deadline = time.monotonic() + timeout_s
    while (counts := [successes(r) for r in replicas]) and sum(counts) < total and time.monotonic() < deadline:
        time.sleep(0.2)
    return counts


@pytest.mark.triton
@needs_haproxy
def test_requests_through_the_balancer_reach_every_replica(fleet):
    balancer, replicas = fleet
    assert all(balancer.http_url != r.http_url for r in replicas)
    with httpx.Client() as client:  # one kept-alive connection: the balancer still spreads its requests
        results = [infer(client, balancer.http_url) for _ in range(40)]
    assert all(results)
    counts = counted(replicas, 40)
    assert sum(counts) == 40 and min(counts) >= 10, counts  # round-robin: about 20 each


@pytest.mark.triton
@needs_haproxy
def test_a_killed_replica_costs_at_most_a_few_requests(fleet):
    balancer, (_, victim) = fleet
    outcomes: list[tuple[float, float, bool]] = []  # started, ended, succeeded
    stop = threading.Event()

    def load():
        with httpx.Client() as client:
            while not stop.is_set():
                started = time.monotonic()
                ok = infer(client, balancer.http_url)
                outcomes.append((started, time.monotonic(), ok))

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.5)
        assert counted([victim], 1)[0] > 0  # it was serving its share
        killed_at = time.monotonic()
        signal_group(victim.process.pid, signal.SIGKILL)  # the server and its Python backend stub, no goodbye
        victim.process.wait(10)
        time.sleep(4.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    before = [ok for _, ended, ok in outcomes if ended < killed_at]
    first = [ok for started, ended, ok in outcomes if ended >= killed_at and started < killed_at + 2.0]
    after = [ok for started, _, ok in outcomes if started >= killed_at + 2.0]
    assert before and all(before)
    assert first.count(False) <= 5, f"{first.count(False)} of {len(first)} failed in the 2 s after the kill"
    assert len(after) >= 50 and after.count(False) == 0, f"{after.count(False)} of {len(after)} failed after 2 s"
    # taken out by the health check, not only dodged request by request
    assert "replicas/replica-2 is DOWN" in balancer.log_path.read_text()


@pytest.mark.triton
@needs_haproxy
def test_a_model_loading_on_every_replica_at_once_costs_no_request(fleet):
    """A change loads the model on every replica together; each keeps serving while it loads, so the balancer
    must not take them out (a check on /v2/health/ready did: Triton is not ready while it loads)."""
    from changeflow.adapters.triton import TritonModelServer
    from changeflow.domain.model_config import parse_config, with_versions

    balancer, replicas = fleet
    config = parse_config((replicas[0].repository / "classifier" / "config.pbtxt").read_text())
    servers = [TritonModelServer(r.http_url, name=r.name) for r in replicas]
    failed, sent, stop = [], [0], threading.Event()

    def clients() -> None:
        with httpx.Client() as client:
            while not stop.is_set():
                sent[0] += 1
                if not infer(client, balancer.http_url):
                    failed.append(time.monotonic())

    traffic = threading.Thread(target=clients)
    traffic.start()
    try:
        for versions in ([1, 2], [2], [1]):  # cold loads (~1.4 s each) on both replicas at once
            loads = [
                threading.Thread(target=s.load, args=("classifier", with_versions(config, versions))) for s in servers
            ]
            for load in loads:
                load.start()
            for load in loads:
                load.join()
            time.sleep(1.5)  # two health checks after each load
    finally:
        stop.set()
        traffic.join()
    assert sent[0] > 100 and failed == [], f"{len(failed)} of {sent[0]} requests failed"


@pytest.mark.triton
@needs_haproxy
def test_triton_up_with_replicas_serves_a_fleet_behind_the_balancer(tmp_path):
    environment_file = tmp_path / "environment.yaml"
    log_path = tmp_path / "up.log"
    with open(log_path, "w") as log:
        up = subprocess.Popen(
            [CLI, "triton", "up", "--replicas", "2", "--staging", "--environment", str(environment_file)],
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "COLUMNS": "200"},
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 240
        while "Press Ctrl-C to stop." not in log_path.read_text():
            assert up.poll() is None and time.monotonic() < deadline, log_path.read_text()[-2000:]
            time.sleep(0.5)
        production = Environment.model_validate(yaml.safe_load(environment_file.read_text())).production
        replicas = production.replicas
        assert [r.name for r in replicas] == ["production-1", "production-2"]
        assert production.http_url not in {r.http_url for r in replicas}  # the balancer, not a replica
        assert production.grpc_url and production.grpc_url not in {r.grpc_url for r in replicas}  # its gRPC too
        assert httpx.get(f"{production.http_url}/v2/health/ready", timeout=5.0).status_code == 200
        with httpx.Client() as client:
            assert all(infer(client, production.http_url) for _ in range(10))
        for replica in replicas:  # both load v1 from the one shared repository, pinned by the first
            assert httpx.get(f"{replica.http_url}/v2/models/classifier/versions/1/ready").status_code == 200
            assert "nv_inference_request_success" in httpx.get(replica.metrics_url).text
        assert production.repository.is_dir() and production.repository != ROOT / "examples" / "model_repository"
        assert "production load balancer ready" in log_path.read_text()
        probes = model_server(production)  # a change's probes: each replica in turn, then the balancer
        X = {"INPUT": np.array([[0.5, -1.0, 2.0, 0.25]], dtype=np.float32)}
        answered = [probes.infer("classifier", X, version=1).server for _ in range(3)]
        assert answered == ["production-1", "production-2", "production load balancer"]
        up.send_signal(signal.SIGTERM)  # what a service manager sends: everything it started stops
        assert up.wait(90) == 0, log_path.read_text()[-2000:]
        for url in [production.http_url] + [r.http_url for r in replicas]:
            with pytest.raises(httpx.TransportError):
                httpx.get(f"{url}/v2/health/ready", timeout=2.0)
        assert not production.repository.exists()  # the private copy went with it
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)  # its servers die with it (PR_SET_PDEATHSIG)
            up.wait()


def test_replicas_without_haproxy_is_one_line_naming_what_to_install(monkeypatch):
    from typer.testing import CliRunner

    from changeflow.cli import app
    from changeflow.local import load_balancer

    monkeypatch.setattr(load_balancer, "haproxy_binary", lambda: None)
    result = CliRunner().invoke(app, ["triton", "up", "--replicas", "2"])
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith("error: triton up: --replicas:") and "apt-get install -y haproxy" in lines[0]

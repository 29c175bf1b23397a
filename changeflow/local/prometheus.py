"""A private Prometheus on loopback (Debian's ``prometheus`` package) scraping given targets every
second: for the tests and the benchmark of metric providers. Its data lives in a temporary folder
that goes with it."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from changeflow.exceptions import LocalServerError
from changeflow.local.processes import await_http, die_with_parent, free_port


def missing_reason() -> str | None:
    """Why a local Prometheus cannot run here, or None."""
    if shutil.which("prometheus") is None:
        return "no `prometheus` binary (Debian package prometheus: apt-get install --no-install-recommends prometheus; `make test` installs it when it can)"
    return None


class LocalPrometheus:
    def __init__(self, targets: list[str], scrape_interval_s: int = 1, home: Path | None = None) -> None:
        """``targets``: ``host:port`` of /metrics endpoints, e.g. a Triton's metrics port; ``home``: where
        its config and data go (default: a temporary folder removed at stop)."""
        self.targets, self.scrape_interval_s, self.given_home = targets, scrape_interval_s, home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._home: tempfile.TemporaryDirectory | None = None
        self._process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 30.0) -> LocalPrometheus:
        if reason := missing_reason():
            raise LocalServerError(reason)
        if self.given_home is None:
            self._home = tempfile.TemporaryDirectory(prefix="changeflow-prometheus-")
        home = self.given_home or Path(self._home.name)
        home.mkdir(parents=True, exist_ok=True)
        targets = ", ".join(f"'{t}'" for t in self.targets)
        (home / "prometheus.yml").write_text(
            f"global:\n  scrape_interval: {self.scrape_interval_s}s\n  evaluation_interval: {self.scrape_interval_s}s\n"
            f"scrape_configs:\n  - job_name: triton\n    static_configs:\n      - targets: [{targets}]\n"
        )
        log = (home / "prometheus.log").open("wb")
        self._process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={home / 'prometheus.yml'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                f"--storage.tsdb.path={home / 'data'}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        state = await_http(self._process, f"{self.url}/-/ready", timeout_s, poll_s=0.2)
        if state == "ready":
            return self
        tail = (home / "prometheus.log").read_text(errors="replace")[-800:]
        self.stop()
        raise LocalServerError(
            f"prometheus {'exited' if state == 'exited' else 'not ready after ' + str(int(timeout_s)) + 's'}: {tail}"
        )

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._home is not None:
            self._home.cleanup()
            self._home = None

    def __enter__(self) -> LocalPrometheus:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

"""Start and stop a real local ``tritonserver`` (the binary shipped in the ``nvidia-pytriton`` wheel).

Used by the tests, the demo and ``changeflow triton up``; production servers are started by whoever
runs them. The recipe (measured on these machines): the wheel's binary with its
libraries on ``LD_LIBRARY_PATH``, a private backend directory holding the Python backend and the
Python 3.11 stub, the project's interpreter first on ``PATH`` (the stub imports models with it),
explicit model control, loopback-only addresses, free ports.

No orphans: the server runs in its own process group, is sent SIGTERM then SIGKILL after a grace
period, is stopped at interpreter exit, and is killed by the kernel if the starting thread dies
(``PR_SET_PDEATHSIG``), which covers an interrupted or killed test run.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from changeflow.exceptions import TritonStartError
from changeflow.local.processes import die_with_parent, free_port, free_ports, group_members, stop_group
from changeflow.settings.environment import ServerEndpoint

__all__ = ["TritonServer", "RESTRICTED_HEADER", "free_port", "group_members", "pytriton_root"]

RESTRICTED_HEADER = "changeflow-admin-key"


def pytriton_root() -> Path:
    """The ``pytriton/tritonserver`` directory of the installed wheel."""
    import pytriton

    return Path(pytriton.__file__).parent / "tritonserver"


@dataclass
class TritonServer:
    """One local tritonserver process on free loopback ports.

    ``repository`` is served as is; pass ``copy_repository=True`` to serve a private copy, so that
    config changes made through the server never touch the files in the checkout. Without a ``workdir``
    it makes a temporary one and removes it again when it stops (a server that failed to start keeps it,
    with its log).
    """

    repository: Path
    name: str = "triton"
    load_models: list[str] = field(default_factory=list)
    copy_repository: bool = False
    restricted_key: str | None = None
    model_control_mode: str = (
        "explicit"  # what changeflow needs; "poll" / "none" show what a user's server may run with
    )
    workdir: Path | None = None
    startup_timeout_s: float = 60.0
    stop_grace_s: float = 5.0
    http_port: int = 0
    grpc_port: int = 0
    metrics_port: int = 0
    process: subprocess.Popen | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "tritonserver.log"

    @property
    def repository_headers(self) -> dict[str, str]:
        """Headers the repository API needs when it is restricted."""
        return {RESTRICTED_HEADER: self.restricted_key} if self.restricted_key else {}

    def endpoint(self, name: str) -> ServerEndpoint:
        """This server as an environment file names it: its APIs, its repository and the headers a restricted
        repository API needs."""
        return ServerEndpoint(
            name=name,
            http_url=self.http_url,
            metrics_url=self.metrics_url,
            grpc_url=self.grpc_url,
            repository=self.repository,
            repository_headers=self.repository_headers,
        )

    def start(self) -> TritonServer:
        if self.process is not None:
            return self
        source = Path(self.repository).resolve()
        if not source.is_dir():
            raise TritonStartError(f"model repository {source} does not exist; fix: pass a directory of models")
        # made here (by this start or one before a restart): removed again by a clean stop
        self._own_workdir = getattr(self, "_own_workdir", False) or self.workdir is None
        self.workdir = Path(self.workdir or tempfile.mkdtemp(prefix=f"changeflow-{self.name}-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.copy_repository:
            target = self.workdir / "model_repository"
            if not target.exists():
                shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
            self.repository = target
        else:
            self.repository = source
        self._started_at = (
            getattr(self, "_started_at", None) or time.time()
        )  # a restart's stop also clears what the killed one left
        picked = iter(free_ports(3))
        self.http_port, self.grpc_port, self.metrics_port = (
            p or next(picked) for p in (self.http_port, self.grpc_port, self.metrics_port)
        )
        command = self._command(self._backend_dir())
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self._environment(),
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        log.close()
        atexit.register(self.stop)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self._ready = True
        return self

    def _backend_dir(self) -> Path:
        backends = self.workdir / "backends"
        python_backend = backends / "python"
        if not python_backend.exists():
            root = pytriton_root()
            shutil.copytree(root / "backends" / "python", python_backend, ignore=shutil.ignore_patterns("__pycache__"))
            stub = (
                root
                / "python_backend_stubs"
                / f"{sys.version_info.major}.{sys.version_info.minor}"
                / "triton_python_backend_stub"
            )
            shutil.copy2(stub, python_backend / "triton_python_backend_stub")
        return backends

    def _command(self, backends: Path) -> list[str]:
        command = [
            str(pytriton_root() / "bin" / "tritonserver"),
            f"--model-repository={self.repository}",
            f"--backend-directory={backends}",
            f"--model-control-mode={self.model_control_mode}",
            "--http-address=127.0.0.1",
            "--grpc-address=127.0.0.1",
            "--metrics-address=127.0.0.1",
            f"--http-port={self.http_port}",
            f"--grpc-port={self.grpc_port}",
            f"--metrics-port={self.metrics_port}",
            "--allow-metrics=true",
            "--allow-gpu-metrics=false",
            "--metrics-interval-ms=500",
            "--exit-timeout-secs=3",
            "--log-verbose=0",
        ]
        if self.restricted_key:
            command.append(f"--http-restricted-api=model-repository:{RESTRICTED_HEADER}={self.restricted_key}")
        if self.model_control_mode == "explicit":
            command += [f"--load-model={m}" for m in self.load_models]
        return command

    def _environment(self) -> dict[str, str]:
        import pytriton

        env = dict(os.environ)
        libs = Path(pytriton.__file__).parent.parent / "nvidia_pytriton.libs"
        env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (str(libs), env.get("LD_LIBRARY_PATH", "")) if p)
        # The Python backend stub imports each model with the first python on PATH: make it ours.
        env["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), env.get("PATH", "")))
        return env

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise TritonStartError(
                    f"tritonserver '{self.name}' exited with code {self.process.returncode}: {self.log_tail()}"
                )
            try:
                if httpx.get(f"{self.http_url}/v2/health/ready", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TritonStartError(
            f"tritonserver '{self.name}' not ready after {self.startup_timeout_s:.0f}s: {self.log_tail(8)}"
        )

    def log_tail(self, lines: int = 4) -> str:
        """The server's last error lines (Triton prefixes them with ``E``), else its last lines."""
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        errors = [line for line in text if line[:1] == "E" and line[1:2].isdigit() or line.startswith("error:")]
        return " | ".join((errors or text)[-lines:])

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL after the grace period. Idempotent."""
        process, self.process = self.process, None
        if process is None:
            return
        atexit.unregister(self.stop)
        stop_group(process, self.stop_grace_s)  # the stubs too, even when the server exited
        if getattr(self, "_own_workdir", False):  # a failed start's log tail is in its error already
            shutil.rmtree(self.workdir, ignore_errors=True)
        started = getattr(self, "_started_at", time.time())
        remove_empty(f for f in stub_folders() if made_since(f, started))  # its stubs', left by the ones it killed

    def __enter__(self) -> TritonServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


SAMPLE_MODELS = ("classifier:1", "feature_scaler")  # what the shipped repository serves when no --model is given


def parse_models(repository: Path, specs: list[str] | tuple[str, ...]) -> list[tuple[str, int | None]]:
    """``M`` (the versions its config names) or ``M:VERSION`` (exactly that version), each checked against
    the repository before any server starts; a bad one is an ``InvalidSettings`` naming ``--model``."""
    from changeflow.exceptions import InvalidSettings

    parsed = []
    for spec in specs:
        name, _, version = spec.partition(":")
        if not name or (version and not version.isdigit()) or (version and int(version) < 1):
            raise InvalidSettings(
                str(repository), "--model", f"{spec!r} is not MODEL or MODEL:VERSION", "e.g. --model classifier:1"
            )
        folder = Path(repository) / name
        if not (folder / "config.pbtxt").is_file() and not folder.is_dir():
            known = (
                ", ".join(sorted(p.name for p in Path(repository).iterdir() if p.is_dir()))
                if Path(repository).is_dir()
                else "none"
            )
            raise InvalidSettings(
                str(repository), "--model", f"no model {name!r} in {repository}", f"use one of: {known}"
            )
        if version and not (folder / version).is_dir():
            raise InvalidSettings(
                str(repository),
                "--model",
                f"{name} has no version {version} in {repository}",
                f"use one of its version folders: {', '.join(sorted(p.name for p in folder.iterdir() if p.name.isdigit()))}",
            )
        parsed.append((name, int(version) if version else None))
    return parsed


def serve_versions(server: TritonServer, models: list[tuple[str, int | None]]) -> list[str]:
    """After start: serve each ``M:VERSION`` with exactly that version, written into the server's repository
    first (a config without a version policy loads its highest version, whatever that is, and a restarted
    server loads what the files say). Returns what serves, for the user."""
    from changeflow.adapters.config_store import LocalConfigStore, Repositories
    from changeflow.bootstrap import model_server

    api = model_server(server.endpoint(server.name), Repositories([LocalConfigStore(server.repository)]))
    for name, version in models:
        if version is not None:
            api.load_versions(name, [version])
    return [f"{name} {api.ready_versions(name)}" for name, _ in models]


def stub_folders() -> list[Path]:
    """The Python backend makes a ``/tmp/python_env_*`` folder (hard-coded /tmp) as it loads models, empty
    unless a packed execution environment is extracted into it, and leaves it when its stub is killed. A
    stopping server removes the empty ones made since it started (``rmdir`` never removes one that holds an
    extracted environment)."""
    return list(Path("/tmp").glob("python_env_*"))


def made_since(folder: Path, since: float) -> bool:
    try:
        return folder.stat().st_mtime >= since - 1
    except OSError:
        return False


def remove_empty(folders) -> None:
    for folder in folders:
        try:
            folder.rmdir()  # only an empty folder goes
        except OSError:
            continue

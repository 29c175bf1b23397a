"""A real load balancer on loopback in front of several local Tritons: Debian's ``haproxy`` (2.6), run from a
private config file, so a fleet (``ServerEndpoint.replicas``) can be served and tested on one machine.

What clients of a fleet need from it, and why each setting is there:

- round-robin over the replicas' HTTP APIs, keep-alive to clients (a client keeps one connection while the
  balancer spreads its requests);
- an active health check on ``/v2/health/live`` every 500 ms, two failures take a replica out and one
  success puts it back: a killed replica stops receiving requests within about a second. Liveness, not
  ``/v2/health/ready``: Triton reports not-ready while it loads a model, and it loads one on every replica at
  once during a change, while still serving the old version (measured: with the ready check, both replicas
  were taken out together and 326 of 2,842 client requests got haproxy's 503 during a promote);
- ``retries``: a request sent to a replica that just died (refused connection, or closed without an
  answer) is sent again to another replica instead of failing at the client (measured with ``retries 0``:
  ~200 failed requests per kill). With no persistence the retries already go elsewhere (the kill test
  passes without ``option redispatch``); redispatch keeps that so once persistence is added. Only those
  transport failures are retried: an error answered by Triton (4xx, 5xx) reaches the client as it is, so
  monitoring still sees it;
- ``option http-buffer-request`` makes a request in flight at the kill retryable too (measured: without
  it one or two per kill reached the client as a closed connection; with it 0 of ~4,000, six runs).

No orphans, as ``TritonServer``: its own process group, ``PR_SET_PDEATHSIG``, SIGTERM then SIGKILL.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from changeflow.exceptions import LocalServerError
from changeflow.local.processes import await_http, die_with_parent, free_port, stop_group

READY_PATH = "/haproxy/ready"  # answered by haproxy itself (monitor-uri): the process listens


def haproxy_binary() -> str | None:
    """``haproxy`` on PATH, else Debian's /usr/sbin one (not on a non-root user's PATH)."""
    found = shutil.which("haproxy") or "/usr/sbin/haproxy"
    return found if Path(found).is_file() else None


def missing_reason() -> str | None:
    """Why a local load balancer cannot run here (what to install), or None."""
    if haproxy_binary() is None:
        return "no `haproxy` binary (Debian package haproxy: apt-get install -y haproxy; `make test` installs it when it can)"
    return None


def _address(url: str) -> str:
    parts = urlsplit(url if "//" in url else f"http://{url}")
    if not parts.hostname or not parts.port:
        raise LocalServerError(f"load balancer backend {url!r}: give an http://HOST:PORT address")
    return f"{parts.hostname}:{parts.port}"


@dataclass
class LoadBalancer:
    """haproxy on a free (or given) loopback port spreading HTTP requests over ``backends`` (http URLs).
    Without a ``workdir`` it makes a temporary one (config and log) and removes it when it stops."""

    backends: list[str]
    name: str = "load-balancer"
    workdir: Path | None = None
    port: int = 0
    grpc_backends: list[str] = field(default_factory=list)  # the replicas' gRPC addresses (host:port), passed as TCP
    grpc_port: int = 0
    startup_timeout_s: float = 15.0
    stop_grace_s: float = 5.0
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def grpc_url(self) -> str | None:
        return f"127.0.0.1:{self.grpc_port}" if self.grpc_backends else None

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "haproxy.log"

    def config(self) -> str:
        servers = "\n".join(
            f"    server replica-{i} {_address(url)} check" for i, url in enumerate(self.backends, start=1)
        )
        return f"""global
    log stdout format raw local0 info
defaults
    mode http
    log global
    option httplog
    option dontlog-normal
    option http-keep-alive
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
    option http-buffer-request
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response
frontend clients
    bind 127.0.0.1:{self.port}
    monitor-uri {READY_PATH}
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /v2/health/live
    http-check expect status 200
    default-server inter 500ms fastinter 250ms downinter 500ms fall 2 rise 1
{servers}
{self._grpc_config()}"""

    def _grpc_config(self) -> str:
        """gRPC (streaming models) passed through as TCP: a client's HTTP/2 connection, and every stream on it,
        goes to one replica, chosen round-robin per connection."""
        if not self.grpc_backends:
            return ""
        servers = "\n".join(
            f"    server replica-{i} {_address(url)} check" for i, url in enumerate(self.grpc_backends, start=1)
        )
        return f"""frontend grpc_clients
    mode tcp
    option tcplog
    bind 127.0.0.1:{self.grpc_port}
    default_backend grpc_replicas
backend grpc_replicas
    mode tcp
    balance roundrobin
{servers}
"""

    def start(self) -> LoadBalancer:
        if self.process is not None:
            return self
        if reason := missing_reason():
            raise LocalServerError(reason)
        if not self.backends:
            raise LocalServerError("a load balancer needs at least one backend")
        self._own_workdir = getattr(self, "_own_workdir", False) or self.workdir is None
        self.workdir = Path(self.workdir or tempfile.mkdtemp(prefix=f"changeflow-{self.name}-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        self.grpc_port = self.grpc_port or (free_port() if self.grpc_backends else 0)
        (self.workdir / "haproxy.cfg").write_text(self.config())
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [haproxy_binary(), "-db", "-f", str(self.workdir / "haproxy.cfg")],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        atexit.register(self.stop)
        state = await_http(self.process, f"{self.http_url}{READY_PATH}", self.startup_timeout_s, poll_s=0.1)
        if state != "ready":
            tail = self.log_path.read_text(errors="replace").strip()[-800:]
            self.stop()
            what = "exited" if state == "exited" else f"not ready after {self.startup_timeout_s:.0f}s"
            raise LocalServerError(f"haproxy '{self.name}' {what}: {tail}")
        return self

    def stop(self) -> None:
        """SIGTERM the process group (haproxy stops at once), SIGKILL after the grace period. Idempotent."""
        process, self.process = self.process, None
        if process is None:
            return
        atexit.unregister(self.stop)
        stop_group(process, self.stop_grace_s)  # the stubs too, even when the server exited
        if getattr(self, "_own_workdir", False):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LoadBalancer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

"""A local ``prefect server start`` for the demo (and ``serve``), or the server already configured.

The UI only works when ``PREFECT_UI_API_URL`` names the server's own API (measured): set here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from changeflow.exceptions import LocalServerError
from changeflow.local.processes import await_http, die_with_parent, free_port, stop_group


def reachable_api_url() -> str | None:
    """``PREFECT_API_URL`` when it is set and its server answers, else None."""
    url = os.environ.get("PREFECT_API_URL")
    if not url:
        return None
    try:
        return url if httpx.get(f"{url.rstrip('/')}/health", timeout=2.0).status_code == 200 else None
    except httpx.HTTPError:
        return None


def new_auth_string() -> str:
    """A fresh ``changeflow:<random>`` credential for a server changeflow starts."""
    import secrets

    return f"changeflow:{secrets.token_urlsafe(18)}"


class LocalPrefectServer:
    def __init__(
        self,
        port: int = 0,
        home: Path | None = None,
        startup_timeout_s: float = 90.0,
        database_url: str | None = None,
        auth_string: str | None = None,
    ) -> None:
        """``database_url``: the server's own database (``postgresql+asyncpg://…``); default SQLite in ``home``.
        ``auth_string``: ``USER:PASSWORD`` the API demands (Prefect's basic auth; ``new_auth_string()`` makes one)."""
        self.port = port or free_port()
        self.database_url = database_url
        self.auth_string = auth_string
        self._own_home = home is None  # made here: removed by stop(), kept by detach()
        self.home = Path(home or tempfile.mkdtemp(prefix="changeflow-prefect-"))
        self.startup_timeout_s = startup_timeout_s
        self.process: subprocess.Popen | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def client_env(self) -> dict[str, str]:
        """What a client of this server (a worker, the demo's run, the CLI) needs in its environment."""
        return {
            "PREFECT_API_URL": self.api_url,
            **({"PREFECT_API_AUTH_STRING": self.auth_string} if self.auth_string else {}),
        }

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, tied_to_parent: bool = True) -> LocalPrefectServer:
        """Start and wait for health; ``tied_to_parent=False`` lets it outlive this process."""
        env = {
            **os.environ,
            "PREFECT_HOME": str(self.home),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_UI_API_URL": self.api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            **({"PREFECT_API_DATABASE_CONNECTION_URL": self.database_url} if self.database_url else {}),
            **(
                {"PREFECT_SERVER_API_AUTH_STRING": self.auth_string, "PREFECT_API_AUTH_STRING": self.auth_string}
                if self.auth_string
                else {}
            ),
        }
        self._log = open(self.home / "server.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent if tied_to_parent else None,
        )
        state = await_http(self.process, f"{self.api_url}/health", self.startup_timeout_s)
        if state == "ready":
            return self
        if state == "exited":
            raise LocalServerError(
                f"prefect server exited with code {self.process.returncode}; log: {self.home / 'server.log'}"
            )
        self.stop()
        raise LocalServerError(
            f"prefect server not ready after {self.startup_timeout_s:.0f}s; log: {self.home / 'server.log'}"
        )

    def detach(self) -> None:
        """Leave the server running after this process exits (``--keep-server``)."""
        self.process = None

    def __enter__(self) -> LocalPrefectServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self, grace_s: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        stop_group(process, grace_s)
        if self._own_home:
            self._log.close()
            shutil.rmtree(self.home, ignore_errors=True)

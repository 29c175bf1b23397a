"""``changeflow serve``: Prefect server + Tritons + the change flows as deployments, in one command."""

from __future__ import annotations

from changeflow.cli._app import app, out, reports_errors


@app.command()
@reports_errors
def serve() -> None:
    """Prefect server + Tritons + the change flows as deployments, in one command (Ctrl-C stops all)."""
    import os
    import subprocess
    import sys

    from changeflow.local.prefect_server import LocalPrefectServer, reachable_api_url

    url, server = reachable_api_url(), None
    if url is None:
        server = LocalPrefectServer().start()
        url = server.api_url
    out.print(f"[bold green]Prefect UI[/] {url.removesuffix('/api')}  (export PREFECT_API_URL={url})")
    try:
        subprocess.run([sys.executable, "-m", "changeflow.local.serve"], env={**os.environ, "PREFECT_API_URL": url, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.stop()

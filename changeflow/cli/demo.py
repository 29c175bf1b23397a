"""``changeflow demo``: the sample changes end to end on local Tritons and a Prefect server."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from changeflow.cli._app import app, out, reports_errors


@app.command()
@reports_errors
def demo(
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
    keep_server: Annotated[bool, typer.Option("--keep-server", help="leave the Prefect server it started running")] = False,
) -> None:
    """Run the sample changes in examples/changes end to end and print a summary."""
    from changeflow.demo import run_demo
    from changeflow.render import demo_table

    report = run_demo(progress=not as_json, keep_server=keep_server)
    if as_json:
        print(json.dumps(report.model_dump(mode="json")))
    else:
        out.print(demo_table(report))


@app.command()
@reports_errors
def serve() -> None:
    """Prefect server + Tritons + the change flows as deployments, in one command (Ctrl-C stops all)."""
    import os
    import subprocess
    import sys

    from changeflow.prefect_server import LocalPrefectServer, reachable_api_url

    url, server = reachable_api_url(), None
    if url is None:
        server = LocalPrefectServer().start()
        url = server.api_url
    out.print(f"[bold green]Prefect UI[/] {url.removesuffix('/api')}  (export PREFECT_API_URL={url})")
    try:
        subprocess.run([sys.executable, "-m", "changeflow.serve"], env={**os.environ, "PREFECT_API_URL": url, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.stop()

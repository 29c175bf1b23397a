"""``changeflow demo``: the sample changes end to end on real local servers, with a typed summary.

The parent process makes sure a Prefect server is there (the one ``PREFECT_API_URL`` names, else a
temporary ``prefect server start``), then runs the changes in a child process pointed at it, so every
Prefect client in the run (flows, approvers) talks to the same server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

from pydantic import BaseModel

from changeflow.local.prefect_server import LocalPrefectServer, new_auth_string, reachable_api_url

BERLIN = timezone(timedelta(hours=1))  # the sample calendar's zone in November/December (CET)


class DemoChange(BaseModel):
    id: str
    type: str
    kind: str
    model: str
    outcome: str
    serving_version_before: int | None = None
    serving_version_after: int | None = None
    rollback_ms: float | None = None
    requests: int = 0
    failed_requests: int = 0
    detail: str = ""


class DemoReport(BaseModel):
    changes: list[DemoChange]
    triton_version: str
    prefect_version: str
    prefect_api_url: str = ""
    incident_events_received: int = 0


class Scenario(BaseModel):
    file: str
    clock: datetime
    decisions: list[tuple[str, bool, str]] = []
    review: tuple[str, str] | None = None


SCENARIOS = [
    Scenario(file="standard-config-tweak.yaml", clock=datetime(2026, 11, 25, 10, 0, tzinfo=BERLIN)),
    Scenario(
        file="normal-deploy-v2.yaml",
        clock=datetime(2026, 11, 25, 22, 0, tzinfo=BERLIN),
        decisions=[("carol", True, "golden set and bake plan look right"), ("dave", True, "ok for tonight")],
    ),
    Scenario(
        file="normal-deploy-v3.yaml",
        clock=datetime(2026, 11, 25, 22, 0, tzinfo=BERLIN),
        decisions=[("carol", True, ""), ("frank", True, "")],
    ),
    Scenario(
        file="normal-deploy-v4.yaml",  # skips v3 after a failed change: high risk, quorum of 3, maintenance window
        clock=datetime(2026, 11, 25, 22, 0, tzinfo=BERLIN),
        decisions=[("dave", True, ""), ("frank", True, ""), ("carol", True, "high risk: Saturday maintenance window")],
    ),
    Scenario(
        file="emergency-hotfix.yaml",
        clock=datetime(2026, 12, 20, 3, 0, tzinfo=BERLIN),
        decisions=[("oscar", True, "INC-2211: approved as emergency")],
        review=("oscar", "Queue delay capped during INC-2211; latency recovered. Follow-up: alert on queue time."),
    ),
    Scenario(
        file="normal-self-approval.yaml",
        clock=datetime(2026, 11, 25, 22, 0, tzinfo=BERLIN),
        decisions=[
            ("alice", True, "approving my own change"),
            ("frank", False, "requester tried to self-approve; refile with CAB"),
        ],
    ),
    Scenario(
        file="normal-deploy-generator-v2.yaml",  # a streaming model: asked and judged over Triton's gRPC stream
        clock=datetime(2026, 11, 25, 22, 0, tzinfo=BERLIN),
        decisions=[("carol", True, "same text on every golden prompt"), ("dave", True, "")],
    ),
]


def run_demo(progress: bool = True, keep_server: bool = False) -> DemoReport:
    """Ensure a Prefect server, run the scenarios in a child process against it, return its report."""
    say = (lambda message: print(message, file=sys.stderr, flush=True)) if progress else (lambda message: None)
    url = reachable_api_url()
    server = None
    if url is None:
        say("starting a local Prefect server …")
        server = LocalPrefectServer(auth_string=new_auth_string()).start(tied_to_parent=not keep_server)
        url = server.api_url
        say(f"  Prefect UI at {server.ui_url}")
    try:
        env = {
            **os.environ,
            "PREFECT_API_URL": url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            **(server.client_env if server else {}),
        }
        if (
            server is not None and "CHANGEFLOW_RECORDS_URL" not in os.environ
        ):  # its own server, its own records: nothing left behind
            env["CHANGEFLOW_RECORDS_URL"] = f"sqlite:///{server.home / 'records.db'}"
        if not progress:
            env["PREFECT_LOGGING_LEVEL"] = "WARNING"
        child = subprocess.run(
            [sys.executable, "-m", "changeflow.local.demo_run"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=None if progress else subprocess.PIPE,
            text=True,
        )
        if child.returncode != 0:
            from changeflow.exceptions import LocalServerError

            raise LocalServerError(
                f"demo run failed (exit {child.returncode}): {(child.stderr or '').strip().splitlines()[-1:] or 'see the log above'}"
            )
        report = DemoReport.model_validate(json.loads(child.stdout.strip().splitlines()[-1]))
        report.prefect_api_url = url
        if server is not None and keep_server:
            say(
                f"Prefect server left running (pid {server.process.pid}): export PREFECT_API_URL={url} PREFECT_API_AUTH_STRING={server.auth_string} "
                f"CHANGEFLOW_RECORDS_URL={env['CHANGEFLOW_RECORDS_URL']}; UI at {server.ui_url} (log in with that string)"
            )
            server.detach()
        return report
    finally:
        if server is not None and not keep_server:
            server.stop()

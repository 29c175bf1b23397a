"""``changeflow submit | approve | review``: file a change, decide on one, close an emergency's review."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer

from changeflow import paths
from changeflow.cli._app import app, err, out, reports_errors
from changeflow.cli.prefect_api import require_prefect
from changeflow.exceptions import InvalidChangeRequest

SITE = Path(".changeflow/site.yaml")


@app.command()
@reports_errors
def submit(
    file: Annotated[Path, typer.Argument(help="change request YAML", show_default=False)],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="validate and print the plan; touch nothing")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the plan (or the result) as JSON")] = False,
    site: Annotated[Path, typer.Option(help="servers to change (written by `changeflow triton up --staging`)")] = SITE,
    governance_dir: Annotated[Path, typer.Option("--governance", help="folder with approvers.yaml, catalog.yaml, calendar.yaml")] = paths.EXAMPLES,
    now: Annotated[Optional[datetime], typer.Option(help="scheduling clock (ISO time with offset); default: now")] = None,
) -> None:
    """Submit a change request: run its governed flow (with --dry-run: print its plan and touch nothing)."""
    from changeflow.domain.plan import plan_change
    from changeflow.loader import load_change_request, load_governance, load_model_file
    from changeflow.render import plan_panel

    request = load_change_request(file)
    if dry_run:
        plan = plan_change(request, warnings=tuple(_conflicts(request)))
        print(plan.model_dump_json(indent=2)) if as_json else out.print(plan_panel(plan))
        return
    from changeflow.environment import Environment

    if not site.exists():
        raise InvalidChangeRequest(str(site), "(file)", "does not exist", "start servers with `changeflow triton up --staging` or pass --site")
    environment = load_model_file(site, Environment)
    governance = load_governance(governance_dir)
    if now is not None and now.tzinfo is None:
        raise InvalidChangeRequest("--now", "now", "has no time zone", "add one, e.g. 2026-11-25T22:00:00+01:00")
    require_prefect()
    from flows.lifecycle import CHANGE_FLOWS

    err.print(f"running {request.id} through the {request.type.value}-change flow; approve with `changeflow approve {request.id} --approver NAME`")
    result = CHANGE_FLOWS[request.type](request, environment, governance, now)
    print(result.model_dump_json()) if as_json else out.print(f"{result.change_id}: {result.state.value} — {result.outcome}")


def _conflicts(request) -> list[str]:
    """Overlap warnings from the records on the Prefect server, when one is reachable (read-only)."""
    from changeflow.domain.conflicts import window_conflicts
    from changeflow.prefect_server import reachable_api_url

    if reachable_api_url() is None:
        return ["window conflicts not checked: no Prefect server (set PREFECT_API_URL)"]
    from changeflow.adapters.prefect_records import PrefectRecordStore

    return window_conflicts(request, PrefectRecordStore().list())


@app.command()
@reports_errors
def approve(
    change_id: Annotated[str, typer.Argument(help="change ID waiting for approval")],
    approver: Annotated[str, typer.Option(help="your identity, e.g. carol")],
    reject: Annotated[bool, typer.Option("--reject", help="reject instead of approve")] = False,
    comment: Annotated[str, typer.Option(help="why; goes on the record")] = "",
    wait: Annotated[float, typer.Option(help="seconds to wait for the change to pause for approval")] = 0.0,
) -> None:
    """Approve (or --reject) a paused change: the same resume as the Prefect UI's form."""
    from changeflow.approvals import submit_decision

    require_prefect()
    run_id = submit_decision(change_id, approver.strip().lower(), not reject, comment, wait_s=wait)
    out.print(f"{'rejection' if reject else 'approval'} by {approver} sent to {change_id} (flow run {run_id}); the flow judges and records it")


@app.command()
@reports_errors
def review(
    change_id: Annotated[str, typer.Argument(help="an emergency change in review_pending")],
    reviewer: Annotated[str, typer.Option(help="who reviewed it")],
    summary: Annotated[str, typer.Option(help="the post-implementation review: what happened, what follows")],
) -> None:
    """Submit an emergency change's post-implementation review; closes its record."""
    from changeflow.adapters.prefect_records import PrefectRecordStore
    from changeflow.reviews import submit_review

    require_prefect()
    submit_review(PrefectRecordStore(), change_id, reviewer, summary)
    out.print(f"{change_id} closed with the review by {reviewer}")


@app.command()
@reports_errors
def reconcile(site: Annotated[Path, typer.Option(help="servers and record store (see `changeflow triton up --staging`)")] = SITE) -> None:
    """Safety net: roll back changes left mid-flight after touching production (dead executor or ended run)."""
    from changeflow.environment import Environment
    from changeflow.loader import load_model_file

    if not site.exists():
        raise InvalidChangeRequest(str(site), "(file)", "does not exist", "pass --site with the servers to reconcile")
    environment = load_model_file(site, Environment)
    require_prefect()
    from flows.safety import safety_net

    result = safety_net(environment)
    out.print(f"rolled back: {', '.join(result.rolled_back) or 'none'}" + (f"; failed: {result.failed}" if result.failed else ""))

"""``changeflow submit | approve | review | reconcile``: file a change, decide on one, close an
emergency's review, run the safety net."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer

from changeflow.cli import _checks as checks
from changeflow.cli._app import app, err, one_line, out, reports_errors
from changeflow.cli._prefect import record_store, require_prefect
from changeflow.domain.record import State
from changeflow.exceptions import ChangeflowError, InvalidSettings, RollbackFailed
from changeflow.settings.defaults import ENVIRONMENT_FILE

NEEDS_ATTENTION = 6
EXIT_CODES = {  # `changeflow submit` (without --dry-run): a pipeline can gate on these
    State.CLOSED: 0, State.REVIEW_PENDING: 0,  # done (an emergency owes its review)
    State.REJECTED: 3, State.EXPIRED: 3,  # not approved or no window: nothing touched
    State.ABORTED: 4,  # stopped before production was touched
    State.ROLLED_BACK: 5,  # production restored to the previous state and verified
    State.SCHEDULED: 7,  # approved and handed to a future maintenance window
}
EXIT_MEANING = {0: "closed", 1: "failed", 3: "rejected or expired: nothing touched", 4: "aborted: production untouched",
                5: "rolled back: production restored", NEEDS_ATTENTION: "production needs attention: it may not be on a verified version",
                7: "scheduled into a later maintenance window"}

EnvironmentOption = Annotated[
    Path, typer.Option("--environment", "--site", help="servers and record store (written by `changeflow triton up --staging` or `changeflow serve`)")
]


def _environment(path: Path):
    from changeflow.settings.environment import Environment
    from changeflow.settings.loader import load_settings_file

    if not path.exists():
        raise InvalidSettings(str(path), "(file)", "does not exist", "start servers with `changeflow triton up --staging` or pass --environment")
    return load_settings_file(path, Environment)


@app.command()
@reports_errors
def submit(
    file: Annotated[Path, typer.Argument(help="change request YAML", show_default=False)],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="validate and print the plan; touch nothing")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the plan (or the result) as JSON")] = False,
    environment: EnvironmentOption = ENVIRONMENT_FILE,
    governance_dir: Annotated[Optional[Path], typer.Option("--governance", help="folder with approvers.yaml, catalog.yaml, calendar.yaml and the golden sets (default: CHANGEFLOW_GOVERNANCE, else the shipped examples)")] = None,
    now: Annotated[Optional[datetime], typer.Option(help="scheduling clock (ISO time with offset); default: now")] = None,
) -> None:
    """Submit a change request: run its governed flow (with --dry-run: print its plan and touch nothing).

    Exit codes: 0 closed (or review pending), 2 bad input, 3 rejected or expired, 4 aborted (production
    untouched), 5 rolled back (production restored), 6 production needs attention, 7 scheduled for a later
    maintenance window, 1 other failure.
    """
    from changeflow.kinds import plan_for
    from changeflow.render.terminal import plan_panel
    from changeflow.settings.loader import load_change_request, load_governance

    if governance_dir is not None:  # what the flow and the golden-set roots read too
        os.environ["CHANGEFLOW_GOVERNANCE"] = str(governance_dir.resolve())
    from changeflow.settings.defaults import governance_dir as configured_governance

    governance_dir = configured_governance()
    request = load_change_request(file)
    if dry_run:
        settings = _environment(environment) if environment.exists() else None
        warnings = _golden_checked(request, settings, str(file)) + _conflicts(request, settings, str(file))
        _refuse_if_nothing_to_do(request, settings, str(file))
        plan = plan_for(request, warnings=tuple(warnings))
        print(plan.model_dump_json(indent=2)) if as_json else out.print(plan_panel(plan))
        return
    settings = _environment(environment)
    for warning in _golden_checked(request, settings, str(file)):
        err.print(f"warning: {warning}", markup=False)
    _refuse_if_nothing_to_do(request, settings, str(file))
    governance = load_governance(governance_dir)
    if now is not None and now.tzinfo is None:
        raise InvalidSettings("--now", "now", "has no time zone", "add one, e.g. 2026-11-25T22:00:00+01:00")
    require_prefect()
    _conflicts(request, settings, str(file))  # an ID already on record is refused here, before the flow opens anything
    from changeflow.flows.lifecycle import CHANGE_FLOWS

    err.print(f"running {request.id} through the {request.type.value}-change flow; approve with `changeflow approve {request.id} --approver NAME`", markup=False)
    try:
        result = CHANGE_FLOWS[request.type](request, settings, governance, now)
    except Exception as exc:  # what the record says decides the exit code, whatever was raised
        code = _exit_after_failure(request.id, settings, exc)
        err.print(one_line("failed:", "bold red", f"{exc.__class__.__name__ if not isinstance(exc, ChangeflowError) else ''}{exc} — {EXIT_MEANING[code]}"),
                  highlight=False, soft_wrap=True)
        raise typer.Exit(code) from None
    print(result.model_dump_json()) if as_json else out.print(f"{result.change_id}: {result.state.value} — {result.outcome}", markup=False)
    code = EXIT_CODES.get(result.state, NEEDS_ATTENTION)
    if code:
        raise typer.Exit(code)


def _exit_after_failure(change_id: str, settings, exc: Exception) -> int:
    """A flow that raised: what its record says about production decides the exit code."""
    from changeflow.bootstrap import bootstrap

    try:
        record = bootstrap(settings).records.load(change_id)
    except ChangeflowError:
        return 1
    if isinstance(exc, RollbackFailed) or (record.production_touched and not record.is_terminal):
        return NEEDS_ATTENTION
    return EXIT_CODES.get(record.state, 1)


def _golden_checked(request, settings, source: str) -> list[str]:
    """The request's golden set read and, when the environment's production server answers, checked
    against the model's live config: a problem exits 2 naming the field; what could not be checked is a warning."""
    from changeflow.bootstrap import bootstrap
    from changeflow.services.verification import check_request_golden

    return check_request_golden(request, bootstrap(settings).production if settings is not None else None, source)


def _refuse_if_nothing_to_do(request, settings, source: str) -> None:
    """With an environment: a change to what production already is (e.g. the version it serves) exits 2."""
    if settings is not None:
        from changeflow.bootstrap import bootstrap
        from changeflow.flows.lifecycle import refuse_if_nothing_to_do

        refuse_if_nothing_to_do(request, bootstrap(settings), source)


def _conflicts(request, settings, source: str) -> list[str]:
    """With the record database (read-only): an ID already on record is refused; overlapping open changes
    to the same model are warnings."""
    from changeflow.domain.history import open_changes
    from changeflow.domain.windows import window_conflicts
    from changeflow.exceptions import InvalidChangeRequest, RecordNotFound, RecordStoreError
    from changeflow.services.records import every

    try:
        store = record_store(settings)
        existing = store.load(request.id)
    except RecordNotFound:
        existing = None
    except RecordStoreError as exc:
        return [f"window conflicts and the ID not checked: {exc}"]
    if existing is not None:
        raise InvalidChangeRequest(source, "id", f"{request.id} is already on record ({existing.state.value})", "give the new request its own ID")
    return window_conflicts(request, list(every(store, open_changes(request.model))))


@app.command()
@reports_errors
def approve(
    change_id: Annotated[str, typer.Argument(help="change ID waiting for approval")],
    approver: Annotated[str, typer.Option(help="your identity, e.g. carol")],
    reject: Annotated[bool, typer.Option("--reject", help="reject instead of approve")] = False,
    comment: Annotated[str, typer.Option(help="why; goes on the record")] = "",
    wait: Annotated[float, typer.Option(help="seconds to wait for the change to pause for approval")] = 0.0,
    key: Annotated[Optional[Path], typer.Option(help="your private key (default: CHANGEFLOW_KEYS/NAME.pem, from `changeflow approvers enrol`)")] = None,
) -> None:
    """Approve (or --reject) a paused change, signed with your key: the same resume as the Prefect UI's form,
    with a signature over the change, the decision and the digest of the plan you approve. A change paused on
    a doubtful bake takes the same command: approve promotes anyway, --reject rolls back."""
    from changeflow.adapters.credentials import signed_proof
    from changeflow.adapters.prefect_approvals import submit_decision
    from changeflow.domain.identity import person
    from changeflow.settings.defaults import approver_keys_dir

    change_id, wait = checks.change_id(change_id, "approve"), checks.seconds(wait, "approve", "--wait")
    require_prefect()
    who, store = person(approver), record_store()
    run_id = submit_decision(change_id, who, not reject, comment, wait_s=wait, proof=lambda: signed_proof(store, approver_keys_dir(), change_id, who, not reject, key))
    out.print(f"{'rejection' if reject else 'approval'} by {approver} sent to {change_id} (flow run {run_id}); the flow judges and records it", markup=False)


@app.command()
@reports_errors
def review(
    change_id: Annotated[str, typer.Argument(help="an emergency change in review_pending")],
    reviewer: Annotated[str, typer.Option(help="who reviewed it")],
    summary: Annotated[str, typer.Option(help="the post-implementation review: what happened, what follows")],
) -> None:
    """Submit an emergency change's post-implementation review; closes its record."""
    from changeflow.services.reviews import submit_review

    submit_review(record_store(), checks.change_id(change_id, "review"), reviewer, summary)
    out.print(f"{change_id} closed with the review by {reviewer}", markup=False)


@app.command()
@reports_errors
def reconcile(environment: EnvironmentOption = ENVIRONMENT_FILE) -> None:
    """Safety net: roll back changes left mid-flight after touching production (dead executor or ended run).
    Exits 6 when a rollback failed: production needs attention."""
    settings = _environment(environment)
    require_prefect()
    from changeflow.flows.safety import Settling, safety_net

    result = safety_net(settings, settling=Settling(unreachable_wait_s=0))  # a person gets the answer now, not in ten minutes
    aborted = f"; closed as aborted (died before touching production): {', '.join(result.aborted)}" if result.aborted else ""
    out.print(f"rolled back: {', '.join(result.rolled_back) or 'none'}{aborted}" + (f"; failed: {result.failed}" if result.failed else ""), markup=False)
    if result.failed:
        raise typer.Exit(NEEDS_ATTENTION)  # a rollback that did not verify: production needs a person

"""``changeflow submit | approve | review | reconcile``: file a change, decide on one, send an emergency's
signed post-implementation review to the executor, run the safety net."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from changeflow.cli import _checks as checks
from changeflow.cli._app import app, err, one_line, out, reports_errors
from changeflow.cli._prefect import record_store, require_prefect
from changeflow.domain.record import State
from changeflow.exceptions import InvalidSettings
from changeflow.settings.defaults import ENVIRONMENT_FILE

NEEDS_ATTENTION = 6
EXIT_CODES = {  # `changeflow submit` (without --dry-run): a pipeline can gate on these
    State.CLOSED: 0,
    State.REVIEW_PENDING: 0,  # done (an emergency owes its review)
    State.REJECTED: 3,
    State.EXPIRED: 3,  # not approved or no window: nothing touched
    State.ABORTED: 4,  # stopped before production was touched
    State.ROLLED_BACK: 5,  # production restored to the previous state and verified
    State.SCHEDULED: 7,  # approved and handed to a future maintenance window
}
EXIT_MEANING = {
    0: "closed",
    1: "failed",
    3: "rejected or expired: nothing touched",
    4: "aborted: production untouched",
    5: "rolled back: production restored",
    NEEDS_ATTENTION: "production needs attention: it may not be on a verified version",
    7: "scheduled into a later maintenance window",
}

EnvironmentOption = Annotated[
    Path,
    typer.Option(
        "--environment",
        "--site",
        help="servers and record store (written by `changeflow triton up --staging` or `changeflow serve`)",
    ),
]


def _environment(path: Path):
    from changeflow.settings.environment import Environment
    from changeflow.settings.loader import load_settings_file

    if not path.exists():
        raise InvalidSettings(
            str(path),
            "(file)",
            "does not exist",
            "start servers with `changeflow triton up --staging` or pass --environment",
        )
    return load_settings_file(path, Environment)


@app.command()
@reports_errors
def submit(
    file: Annotated[Path, typer.Argument(help="change request YAML", show_default=False)],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="validate and print the plan; touch nothing")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the plan (or the result) as JSON")] = False,
    environment: EnvironmentOption = ENVIRONMENT_FILE,
    governance_dir: Annotated[
        Path | None,
        typer.Option(
            "--governance",
            help="with --dry-run: preview under this governance folder (a real submission is judged by the worker's sealed bundle)",
        ),
    ] = None,
    now: Annotated[
        datetime | None,
        typer.Option(
            help="refused: the scheduling clock is the executor's (kept so the refusal is one clear line)", hidden=True
        ),
    ] = None,
) -> None:
    """Submit a change request: a run of its type's deployment that carries the request only, followed to
    its outcome; a worker executes it with its own environment, sealed governance and keys (with --dry-run:
    print the plan and touch nothing).

    Exit codes: 0 closed (or review pending), 2 bad input, 3 rejected or expired, 4 aborted (production
    untouched), 5 rolled back (production restored), 6 production needs attention, 7 scheduled for a later
    maintenance window, 1 other failure.
    """
    from changeflow.kinds import plan_for
    from changeflow.render.terminal import plan_panel
    from changeflow.settings.loader import load_change_request

    governance_given = governance_dir is not None
    if governance_given:  # what the dry run's golden-set roots read too
        os.environ["CHANGEFLOW_GOVERNANCE"] = str(governance_dir.resolve())
    request = load_change_request(file)
    if dry_run:
        settings = _environment(environment) if environment.exists() else None
        warnings = _golden_checked(request, settings, str(file)) + _conflicts(request, settings, str(file))
        _refuse_if_nothing_to_do(request, settings, str(file))
        plan = plan_for(request, warnings=tuple(warnings))
        print(plan.model_dump_json(indent=2)) if as_json else out.print(plan_panel(plan))
        return
    if now is not None:
        raise InvalidSettings(
            "submit",
            "--now",
            "the scheduling clock is the executor's configuration, not the requester's",
            "drop --now (a worker started with CHANGEFLOW_CLOCK sets one, for demos and tests only)",
        )
    if governance_given:
        raise InvalidSettings(
            "submit",
            "--governance",
            "the worker judges a change by its own sealed governance bundle",
            "drop --governance; to preview a plan under other rules, add --dry-run",
        )
    settings = _environment(environment)
    for warning in _golden_checked(request, settings, str(file)):
        err.print(f"warning: {warning}", markup=False)
    _refuse_if_nothing_to_do(request, settings, str(file))
    require_prefect()
    _conflicts(request, settings, str(file))  # an ID already on record is refused here, before a run is created
    from changeflow.adapters.prefect_submit import deployment_name, follow, start_change_run

    run_id = start_change_run(request)
    err.print(
        f"{request.id} submitted to {deployment_name(request.type.value)} (flow run {run_id}); a worker runs it. "
        f"Approve with `changeflow approve {request.id} --approver NAME` or in the Prefect UI",
        markup=False,
    )
    try:
        state = follow(run_id, lambda line: err.print(line, markup=False, highlight=False))
    except KeyboardInterrupt:
        err.print(
            f"stopped following; {request.id} goes on in flow run {run_id}: `changeflow status {request.id}`",
            markup=False,
        )
        raise typer.Exit(1) from None
    code, result = _outcome(request.id, settings, state)
    if result is not None:
        print(result.model_dump_json()) if as_json else out.print(
            f"{result.change_id}: {result.state.value} — {result.outcome}", markup=False
        )
    else:
        err.print(
            one_line(
                "failed:",
                "bold red",
                f"flow run {run_id} ended {state.name}: {state.message or 'no message'} — {EXIT_MEANING[code]}",
            ),
            highlight=False,
            soft_wrap=True,
        )
    if code:
        raise typer.Exit(code)


def _outcome(change_id: str, settings, state):
    """(exit code, result) once the run ended: what the record says decides, whatever the run's state."""
    from changeflow.domain.record import ChangeResult
    from changeflow.exceptions import RecordNotFound

    try:
        record = record_store(settings).load(change_id)
    except RecordNotFound:
        return 1, None  # the run ended before it opened a record (e.g. refused job variables): its state says why
    if (
        record.production_touched and not record.is_terminal and record.state is not State.REVIEW_PENDING
    ):  # review pending: verified, done
        return NEEDS_ATTENTION, ChangeResult.of(record)
    return EXIT_CODES.get(record.state, NEEDS_ATTENTION if state.is_failed() else 1), ChangeResult.of(record)


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
        from changeflow.flows.governed import refuse_if_nothing_to_do

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
        raise InvalidChangeRequest(
            source,
            "id",
            f"{request.id} is already on record ({existing.state.value})",
            "give the new request its own ID",
        )
    return window_conflicts(request, list(every(store, open_changes(request.model))))


@app.command()
@reports_errors
def approve(
    change_id: Annotated[str, typer.Argument(help="change ID waiting for approval")],
    approver: Annotated[str, typer.Option(help="your identity, e.g. carol")],
    reject: Annotated[bool, typer.Option("--reject", help="reject instead of approve")] = False,
    comment: Annotated[str, typer.Option(help="why; goes on the record")] = "",
    wait: Annotated[float, typer.Option(help="seconds to wait for the change to pause for approval")] = 0.0,
    key: Annotated[
        Path | None,
        typer.Option(help="your private key (default: CHANGEFLOW_KEYS/NAME.pem, from `changeflow approvers enrol`)"),
    ] = None,
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
    run_id = submit_decision(
        change_id,
        who,
        not reject,
        comment,
        wait_s=wait,
        proof=lambda: signed_proof(store, approver_keys_dir(), change_id, who, not reject, key),
    )
    out.print(
        f"{'rejection' if reject else 'approval'} by {approver} sent to {change_id} (flow run {run_id}); the flow judges and records it",
        markup=False,
    )


REVIEW_REFUSED = 3  # `changeflow review`: the executor did not count the review; the record still owes it


@app.command()
@reports_errors
def review(
    change_id: Annotated[str, typer.Argument(help="an emergency change in review_pending")],
    reviewer: Annotated[
        str, typer.Option(help="who reviewed it: an emergency approver who did not request the change")
    ],
    summary: Annotated[
        str, typer.Option(help="the post-implementation review: what happened, what follows (10 to 4,000 characters)")
    ],
    key: Annotated[
        Path | None,
        typer.Option(help="your private key (default: CHANGEFLOW_KEYS/NAME.pem, from `changeflow approvers enrol`)"),
    ] = None,
    wait: Annotated[
        float, typer.Option(help="seconds to wait for the change to reach review_pending before the review is sent")
    ] = 0.0,
) -> None:
    """Submit an emergency change's post-implementation review, signed with your key: a run of
    post-implementation-review/review carrying the change ID, your name, the summary and your signature over
    them and the approved plan's digest. The worker judges it by its own governance (an emergency approver
    who is not the requester, a signature by your key in the bundle) and records it: closed with the review
    and its proof, or the refusal noted on the record.

    Exit codes: 0 closed with the review, 2 bad input, 3 review refused (the reason in one line; the record
    still owes its review), 1 other failure.
    """
    from changeflow.adapters.credentials import signed_review
    from changeflow.adapters.prefect_submit import REVIEW_DEPLOYMENT, follow, start_review_run
    from changeflow.domain.identity import person
    from changeflow.domain.review import SUMMARY_MAX, SUMMARY_MIN
    from changeflow.settings.defaults import approver_keys_dir

    change_id, wait = checks.change_id(change_id, "review"), checks.seconds(wait, "review", "--wait")
    who, text = person(reviewer), summary.strip()
    if not who:
        raise InvalidSettings(
            "review", "--reviewer", "names nobody", "give your name as enrolled, e.g. --reviewer oscar"
        )
    if not SUMMARY_MIN <= len(text) <= SUMMARY_MAX:
        raise InvalidSettings(
            "review",
            "--summary",
            f"has {len(text):,} characters",
            f"write what happened and what follows ({SUMMARY_MIN} to {SUMMARY_MAX:,} characters)",
        )
    require_prefect()
    store = record_store()
    _wait_for_review_pending(store, change_id, wait)
    signature = signed_review(store, approver_keys_dir(), change_id, who, text, key)
    run_id = start_review_run(change_id, who, text, signature)
    err.print(
        f"review of {change_id} by {who} sent to {REVIEW_DEPLOYMENT} (flow run {run_id}); the worker judges and records it",
        markup=False,
    )
    try:
        state = follow(run_id, lambda line: err.print(line, markup=False, highlight=False))
    except KeyboardInterrupt:
        err.print(
            f"stopped following; the review goes on in flow run {run_id}: `changeflow record {change_id}`", markup=False
        )
        raise typer.Exit(1) from None
    record = store.load(change_id)
    kept = next((r for r in reversed(record.reviews) if r.counted and r.signature == signature), None)
    if state.is_completed() and kept is not None and record.state is State.CLOSED:
        out.print(f"{change_id} closed with the review by {who}, signed with key {kept.key_id}", markup=False)
        return
    message = state.message or "no message"
    if "ReviewRefused: " in message:
        err.print(
            one_line(
                "refused:", "bold red", f"review of {change_id} by {who}: {message.split('ReviewRefused: ', 1)[1]}"
            ),
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(REVIEW_REFUSED)
    err.print(
        one_line("failed:", "bold red", f"flow run {run_id} ended {state.name}: {message}"),
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(1)


def _wait_for_review_pending(store, change_id: str, wait_s: float) -> None:
    """Up to ``wait_s`` for the record to reach ``review_pending`` (the executor judges whatever it finds)."""
    import time

    from changeflow.exceptions import RecordNotFound

    deadline = time.monotonic() + wait_s
    while True:
        try:
            if store.load(change_id).state is State.REVIEW_PENDING:
                return
        except RecordNotFound:
            if time.monotonic() >= deadline:
                raise
        if time.monotonic() >= deadline:
            return
        time.sleep(1.0)


@app.command()
@reports_errors
def reconcile(environment: EnvironmentOption = ENVIRONMENT_FILE) -> None:
    """Safety net: roll back changes left mid-flight after touching production (dead executor or ended run).
    Exits 6 when a rollback failed: production needs attention."""
    settings = _environment(environment)
    require_prefect()
    from changeflow.flows.safety import Settling, safety_net

    result = safety_net(
        settings, settling=Settling(unreachable_wait_s=0)
    )  # a person gets the answer now, not in ten minutes
    aborted = (
        f"; closed as aborted (died before touching production): {', '.join(result.aborted)}" if result.aborted else ""
    )
    out.print(
        f"rolled back: {', '.join(result.rolled_back) or 'none'}{aborted}"
        + (f"; failed: {result.failed}" if result.failed else ""),
        markup=False,
    )
    if result.failed:
        raise typer.Exit(NEEDS_ATTENTION)  # a rollback that did not verify: production needs a person

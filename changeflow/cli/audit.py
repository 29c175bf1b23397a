"""``changeflow audit verify | export | checkpoint``: what an auditor runs over the record database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from changeflow.cli._app import app, err, one_line, out, reports_errors
from changeflow.cli._prefect import record_store

audit_app = typer.Typer(help="Check and export the hash-chained record history.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
BROKEN = 8


@audit_app.command("verify")
@reports_errors
def verify(
    change_id: Annotated[str | None, typer.Argument(help="one change ID; omit with --all")] = None,
    every_record: Annotated[bool, typer.Option("--all", help="every record in the database")] = False,
    prefect: Annotated[
        bool, typer.Option("--prefect", help="also compare the records Prefect shows (artifacts) with the chains")
    ] = False,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            help="an earlier `audit export`, a checkpoint file or a copied checkpoint folder kept outside the database: its signed heads must still be there (default: the newest in this executor's checkpoint folder)",
        ),
    ] = None,
    unsigned: Annotated[
        bool,
        typer.Option(
            "--unsigned",
            help="check the digests only, where no executor key is known (a chain recomputed by a database writer passes)",
        ),
    ] = False,
    reviews: Annotated[
        bool,
        typer.Option(
            "--reviews",
            help="also re-verify each closed emergency's post-implementation review against the governance bundle's keys",
        ),
    ] = False,
) -> None:
    """Walk the version chains and check every version's executor signature against the governance
    bundle's executor keys; exit 8 naming the first broken link (a rewritten, unsigned, removed or
    reordered version, a gap in the sequence of versions, a chain shorter than the checkpoint's). With
    --reviews, an emergency closed without a review signed by an emergency approver who is not its
    requester (re-verified against the bundle's keys) is named too, and exits 8."""
    from changeflow.exceptions import InvalidSettings
    from changeflow.services.audit import audit, executor_seals

    if (change_id is None) == (not every_record) or (change_id and every_record):
        raise InvalidSettings(
            "audit verify",
            "ID",
            "give one change ID or --all",
            "e.g. `changeflow audit verify CHG-0002` or `changeflow audit verify --all`",
        )
    published = None
    if prefect:
        from changeflow.adapters.prefect_records import artifact_records
        from changeflow.cli._prefect import require_prefect

        require_prefect()
        published = {r.id: r for r in artifact_records()}
    seals = executor_seals()
    if seals is None and not unsigned:
        raise InvalidSettings(
            "audit verify",
            "keys",
            "no executor key is known, so signatures cannot be checked and a recomputed chain would pass",
            "pin the governance keys (CHANGEFLOW_GOVERNANCE_KEYS) of a bundle listing its executors, or add --unsigned to check digests only",
        )
    store = record_store()
    kept = _checkpoint(store, checkpoint, seals)
    report = audit(store, None if every_record else [change_id], published, seals, kept)
    if reviews:
        report.breaks += _review_breaks(None if every_record else change_id)
    if report.breaks:
        first = report.breaks[0]
        err.print(
            one_line(
                "broken:",
                "bold red",
                f"{first.change_id} version {first.version}: {first.reason}"
                + (f" (and {len(report.breaks) - 1} more record(s))" if len(report.breaks) > 1 else ""),
            ),
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(BROKEN)
    signed = (
        "every version signed by an executor of the governance bundle"
        if report.signatures_checked
        else "signatures NOT checked: no executor key is known (pin governance keys and list executors in keys.yaml)"
    )
    out.print(
        f"intact: {report.records} record(s), {report.versions} version(s); {signed}"
        + ("; every closed emergency's review verifies" if reviews else ""),
        markup=False,
    )


def _review_breaks(change_id: str | None) -> list:
    """A closed emergency whose kept review does not verify against the governance in force (its
    emergency approvers and their keys), as a break naming the record's last version."""
    from changeflow.domain.history import ChainBreak, RecordQuery
    from changeflow.domain.record import State
    from changeflow.domain.request import ChangeType
    from changeflow.services.records import every
    from changeflow.services.reviews import review_problem
    from changeflow.settings.defaults import governance_or_default

    governance, store = governance_or_default(), record_store()
    records = (
        [store.load(change_id)]
        if change_id
        else every(store, RecordQuery(types=frozenset({ChangeType.EMERGENCY}), states=frozenset({State.CLOSED})))
    )
    return [
        ChainBreak(change_id=record.id, version=len(store.history(record.id)), reason=problem)
        for record in records
        if (problem := review_problem(record, governance)) is not None
    ]


def _checkpoint(store, given: Path | None, seals):
    """The checkpoint to compare with: ``--checkpoint`` (a file, or a folder: its newest signed one), else
    the newest signed one in this executor's checkpoint folder; says which on stdout."""
    from changeflow.exceptions import InvalidSettings
    from changeflow.services.checkpoints import newest
    from changeflow.settings.defaults import checkpoints_dir

    if given is not None and not given.is_dir():
        kept, where = read_checkpoint_file(given, seals), given
    else:
        found = newest(given if given is not None else checkpoints_dir(), store, seals)
        if found is None and given is not None:
            raise InvalidSettings(
                str(given),
                "--checkpoint",
                "holds no checkpoint of this database signed by an executor",
                "name a checkpoint folder (or a file) this database's worker wrote",
            )
        kept, where = found if found is not None else (None, None)
    if kept is not None:
        out.print(
            f"checkpoint: {where} (sequence {kept.seq}, {len(kept.heads)} record(s){', ' + kept.written_at if kept.written_at else ''})",
            markup=False,
            soft_wrap=True,
        )
    return kept


def read_checkpoint_file(path: Path, seals):
    from changeflow.services.audit import read_checkpoint

    return read_checkpoint(_read(path), seals)


def _read(path: Path) -> str:
    from changeflow.exceptions import InvalidSettings

    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidSettings(
            str(path),
            "--checkpoint",
            f"cannot be read ({exc.__class__.__name__})",
            "pass a file written by `changeflow audit export`",
        ) from None


@audit_app.command("export")
@reports_errors
def export(file: Annotated[Path, typer.Argument(help="where to write the bundle (JSON lines)")]) -> None:
    """Write every version of every record as JSON lines, then the chain heads: an auditor's bundle."""
    from changeflow.exceptions import InvalidSettings
    from changeflow.services.audit import export as write
    from changeflow.settings.defaults import executor_key

    try:
        handle = open(file, "w", encoding="utf-8")
    except OSError as exc:  # a folder, a missing folder, no permission: bad input, nothing written
        raise InvalidSettings(
            str(file),
            "FILE",
            f"cannot be written ({exc.strerror or exc.__class__.__name__})",
            "name a file in a folder you can write, e.g. audit.jsonl",
        ) from None
    with handle:
        lines = write(record_store(), handle, executor_key())
    out.print(f"{lines - 1} version(s) and the chain heads written to {file}", markup=False)


@audit_app.command("checkpoint")
@reports_errors
def checkpoint() -> None:
    """Write a signed checkpoint of every chain head into this executor's checkpoint folder (what the
    safety net does after each run) and announce it when a Prefect API is configured; exit 8 when the
    database lost versions since the newest one."""
    from changeflow.adapters.prefect_records import announce_records
    from changeflow.exceptions import InvalidSettings, RecordTampered
    from changeflow.services.audit import keep_executor_checkpoint
    from changeflow.settings.defaults import EXECUTOR_KEY

    try:
        kept = keep_executor_checkpoint(record_store(), publish=announce_records)
    except RecordTampered as exc:
        err.print(one_line("broken:", "bold red", str(exc)), highlight=False, soft_wrap=True)
        raise typer.Exit(BROKEN) from None
    if kept is None:
        raise InvalidSettings(
            "audit checkpoint",
            EXECUTOR_KEY,
            "is not set: only an executor signs checkpoints",
            "run it where the worker's executor key is (CHANGEFLOW_EXECUTOR_KEY)",
        )
    said = "written" if kept.written else "unchanged since"
    out.print(
        f"checkpoint {said}: {kept.path} (sequence {kept.checkpoint.seq}, {len(kept.checkpoint.heads)} record(s))",
        markup=False,
        soft_wrap=True,
    )

"""The typer application, its consoles, and the error policy every command shares."""

from __future__ import annotations

import functools

import typer
from rich.console import Console

from changeflow.exceptions import ChangeflowError, InvalidChangeRequest

app = typer.Typer(
    help="Change management for mission-critical AI inference on Prefect and NVIDIA Triton.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(width=max(120, Console().width))  # tables stay readable when piped
err = Console(stderr=True)


def reports_errors(command):
    """Turn changeflow's own errors into one line and an exit code (2: bad input, 1: failure)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except InvalidChangeRequest as exc:
            err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except ChangeflowError as exc:
            err.print(f"[bold red]failed:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper

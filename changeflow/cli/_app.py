"""The typer application, its consoles, and the error policy every command shares."""

from __future__ import annotations

import functools

import typer
from rich.console import Console
from rich.text import Text

from changeflow.exceptions import ChangeflowError, InvalidInput

app = typer.Typer(
    help="Change management for mission-critical AI inference on Prefect and NVIDIA Triton.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(width=max(120, Console().width))  # tables stay readable when piped
err = Console(stderr=True)


def one_line(label: str, style: str, message: str) -> Text:
    """``label message`` with the message taken literally: no markup, whatever it contains."""
    return Text.assemble((label, style), " ", message.replace("\n", " "))


def reports_errors(command):
    """Turn changeflow's own errors into one line and an exit code (2: bad input, 1: failure)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except InvalidInput as exc:
            err.print(one_line("error:", "bold red", str(exc)), highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except ChangeflowError as exc:
            err.print(one_line("failed:", "bold red", str(exc)), highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper

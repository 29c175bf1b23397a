"""The ``changeflow`` command (typer + rich).

Bad input exits 2 with one line naming the field and the fix; other failures exit 1 with one line.
Never a traceback for an error changeflow raised on purpose.
"""

from changeflow.cli import approvers, audit, changes, demo, drift, golden, governance, records, reports, serve, triton  # noqa: F401  (register the commands)
from changeflow.cli._app import app


def main() -> None:
    app()


__all__ = ["app", "main"]

"""The ``changeflow`` command (typer + rich).

Bad input exits 2 with one line naming the field and the fix; other failures exit 1 with one line.
Never a traceback for an error changeflow raised on purpose.
"""

from changeflow.cli import (
    approvers,
    audit,
    changes,
    demo,
    drift,
    golden,
    governance,
    listing,
    records,
    reports,
    serve,
    triton,
)
from changeflow.cli._app import app

COMMANDS = (approvers, audit, changes, demo, drift, golden, governance, listing, records, reports, serve, triton)
"""The modules whose import registers their commands on ``app``."""


def main() -> None:
    app()


__all__ = ["app", "main"]

"""``changeflow governance keygen | sign | verify``: a governance maintainer seals the bundle that every
executor pinning their key will accept; anyone can check a folder against a key."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from changeflow.cli._app import app, out, reports_errors

governance_app = typer.Typer(
    help="Seal and check the governance bundle (approvers, keys, catalog, calendar).", no_args_is_help=True
)
app.add_typer(governance_app, name="governance")


@governance_app.command("keygen")
@reports_errors
def keygen(
    out_file: Annotated[Path, typer.Option("--out", "-o", help="where to write the private key (mode 0600)")],
) -> None:
    """Create an Ed25519 key pair: a governance maintainer's (to sign bundles) or an executor's (to sign
    record versions). Prints the public key, to pin on workers or to add to the bundle's keys.yaml."""
    from changeflow.exceptions import InvalidSettings
    from changeflow.signing import generate_key, key_id

    if out_file.exists():
        raise InvalidSettings(
            "governance keygen", "--out", f"{out_file} exists", "choose a new file: a key is never overwritten"
        )
    public = generate_key(out_file)
    out.print(f"private key written to {out_file} (keep it to yourself); key id {key_id(public)}", markup=False)
    print(public)


@governance_app.command("sign")
@reports_errors
def sign(
    folder: Annotated[
        Path,
        typer.Argument(
            help="the governance bundle's folder (approvers.yaml, catalog.yaml, calendar.yaml, keys.yaml, …)"
        ),
    ],
    key: Annotated[Path, typer.Option("--key", help="the governance maintainer's private key")],
) -> None:
    """Seal the bundle as it is now (after review, like code): writes governance.sig beside it. Any later
    edit breaks the seal, and executors that pin this key refuse the bundle until it is signed again."""
    from changeflow.settings.bundle import seal
    from changeflow.signing import PrivateKey

    digest, written = seal(folder, PrivateKey.load(key))
    out.print(f"sealed {folder}: bundle {digest} signed; {written} written", markup=False)


@governance_app.command("verify")
@reports_errors
def verify(
    folder: Annotated[Path, typer.Argument(help="the governance bundle's folder")],
    key: Annotated[
        list[str] | None,
        typer.Option("--key", help="a maintainer public key to trust (default: CHANGEFLOW_GOVERNANCE_KEYS)"),
    ] = None,
) -> None:
    """Check the bundle's seal against the trusted maintainer keys, as an executor does before using it."""
    from changeflow.exceptions import InvalidSettings
    from changeflow.settings.bundle import check
    from changeflow.settings.defaults import governance_pins

    pins = list(key or []) or governance_pins()
    if not pins:
        raise InvalidSettings(
            "governance verify",
            "--key",
            "no trusted maintainer key given",
            "pass --key PUBLIC or set CHANGEFLOW_GOVERNANCE_KEYS",
        )
    out.print(check(folder, pins).describe(), markup=False)

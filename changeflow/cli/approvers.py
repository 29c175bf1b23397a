"""``changeflow approvers enrol NAME``: an approver's credentials — a signing key for `changeflow approve`
and an authenticator secret for the Prefect UI form."""

from __future__ import annotations

from typing import Annotated

import typer

from changeflow.cli._app import app, out, reports_errors

approvers_app = typer.Typer(
    help="Enrol approvers: the credentials their decisions are checked against.", no_args_is_help=True
)
app.add_typer(approvers_app, name="approvers")


@approvers_app.command("enrol")
@reports_errors
def enrol(
    name: Annotated[str, typer.Argument(help="the approver's name as on the approvers list, e.g. carol")],
    qr: Annotated[
        bool, typer.Option("--qr/--no-qr", help="also print the authenticator QR code (needs the `qrcode` package)")
    ] = True,
) -> None:
    """Create NAME's Ed25519 key pair (private key under CHANGEFLOW_KEYS, public key in the registry
    CHANGEFLOW_APPROVER_KEYS) and TOTP secret (in CHANGEFLOW_APPROVER_SECRETS, which the flows read).
    Prints the provisioning URI to add to an authenticator app. Enrolling again replaces both."""
    from changeflow.adapters.credentials import enrol as create
    from changeflow.settings.defaults import approver_keys_dir, approver_registry, approver_secrets

    done = create(name, approver_keys_dir(), approver_secrets(), approver_registry())
    out.print(
        f"enrolled {done.name}: private key {done.private_key} (keep it to yourself); public key added to {approver_registry()}",
        markup=False,
    )
    print(f"authenticator: {done.provisioning_uri}")  # whole on one line: copied into an app as is
    if qr:
        try:
            import qrcode

            code = qrcode.QRCode(border=1)
            code.add_data(done.provisioning_uri)
            code.print_ascii(invert=True)
        except ImportError:
            out.print(
                "(install `qrcode` to see it as a QR code, or type the secret from the URI into the app)", markup=False
            )
    out.print(
        f"for executors that pin governance keys, a governance maintainer adds this to the bundle's keys.yaml and re-signs it "
        f"(`changeflow governance sign`); until then the new key counts for nothing there:\n"
        f"approvers:\n  {done.name}: {{ed25519: {done.public_key}, totp_sha256: {done.authenticator}}}",
        markup=False,
    )
    out.print(
        "the TOTP secret went to the executors' secrets file (replacing any earlier one: that is revoked); the enrolment is logged "
        "in enrolments.log beside it and announced as a Prefect event",
        markup=False,
    )

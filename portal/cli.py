"""Operator commands, registered on the app so they run in an app context."""

import click
from flask.cli import with_appcontext

from portal import backup, doctor, runner, seed
from portal._version import __version__
from portal.accounts import AccountError, new_admin, new_customer, new_reseller
from portal.extensions import db
from portal.m365 import credentials
from portal.models import Reseller, Role
from portal.scim import cli as scim_cli
from portal.sync import cli as sync_cli


def register(app):
    """Every command: the operator's here, then `seed-demo`, `runner` and `sync run`."""
    commands = (version, create_reseller, create_customer, create_admin, doctor_command, m365_certificate)
    for command in (*commands, backup_command, restore_command, rotate_token_key):
        app.cli.add_command(command)
    for module in (seed, runner, sync_cli, scim_cli):
        module.register_cli(app)


@click.command("version")
def version():
    """Print the portal's release number."""
    click.echo(f"awareness-portal {__version__}")


@click.command("create-reseller")
@click.option("--name", required=True, help="Company name of the reseller.")
@with_appcontext
def create_reseller(name):
    """Create a reseller and print its id."""
    try:
        reseller = new_reseller(name)
    except AccountError as exc:
        raise click.UsageError(str(exc)) from None
    db.session.commit()
    click.echo(reseller.id)


@click.command("create-customer")
@click.option("--reseller", "reseller_id", type=int, required=True, help="Id of the owning reseller.")
@click.option("--name", required=True, help="Company name of the customer.")
@with_appcontext
def create_customer(reseller_id, name):
    """Create a customer of a reseller and print its id."""
    reseller = db.session.get(Reseller, reseller_id)
    if reseller is None:
        raise click.UsageError(f"No reseller with id {reseller_id}.")
    try:
        customer = new_customer(reseller, name)
    except AccountError as exc:
        raise click.UsageError(str(exc)) from None
    db.session.commit()
    click.echo(customer.id)


@click.command("create-admin")
@click.option("--email", required=True)
@click.option("--password", required=True, help="At least 10 characters.")
@click.option("--role", type=click.Choice([str(r) for r in Role]), required=True)
@click.option("--reseller", "reseller_id", type=int, help="For --role reseller.")
@click.option("--customer", "customer_id", type=int, help="For --role customer.")
@click.option("--name", default="", help="Display name.")
@with_appcontext
def create_admin(email, password, role, reseller_id, customer_id, name):
    """Create an admin account and print its id."""
    try:
        admin = new_admin(
            email=email,
            password=password,
            role=role,
            name=name,
            reseller_id=reseller_id,
            customer_id=customer_id,
        )
    except AccountError as exc:
        raise click.UsageError(str(exc)) from None
    db.session.commit()
    click.echo(admin.id)


@click.command("doctor")
@click.option("--send-test-mail", "send_to", metavar="ADDRESS", help="Also send a test mail to ADDRESS.")
@with_appcontext
@click.pass_context
def doctor_command(ctx, send_to):
    """Check this installation end to end: one line per check with a fix hint.

    Exits 1 when a check FAILs; WARN lines (works, but look at it) keep the exit status 0.
    """
    results = doctor.run(send_test_mail_to=send_to)
    for result in results:
        click.echo(result.line())
    failed = sum(result.status == doctor.FAIL for result in results)
    warned = sum(result.status == doctor.WARN for result in results)
    click.echo(f"{failed} failed, {warned} warning{'s' if warned != 1 else ''}, {len(results)} checks.")
    ctx.exit(1 if failed else 0)


@click.command("backup")
@click.argument("destination", type=click.Path(file_okay=False))
@with_appcontext
def backup_command(destination):
    """Back up the database together with its token key into the new directory DESTINATION."""
    try:
        click.echo(backup.backup(destination), nl=False)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("restore")
@click.argument("source", type=click.Path(exists=True, file_okay=False))
@with_appcontext
def restore_command(source):
    """Restore the backup directory SOURCE into this installation's empty database."""
    try:
        failing = backup.restore(source)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    if failing:
        raise click.ClickException(
            f"Restored, but {failing} stored M365 tokens do not decrypt with this host's key: set "
            f"TOKEN_ENCRYPTION_KEY to the content of {source}/token.key."
        )
    click.echo("Restored; the stored M365 tokens decrypt with this host's key. Next: db upgrade.")


@click.command("rotate-token-key")
@with_appcontext
def rotate_token_key():
    """Re-encrypt every stored M365 token with the first key of TOKEN_ENCRYPTION_KEY=NEW,OLD."""
    try:
        count = backup.rotate_token_key()
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"Re-encrypted {count} stored M365 tokens with the first key. Now drop the old key from "
        "TOKEN_ENCRYPTION_KEY and restart web and runner."
    )


@click.command("m365-certificate")
@click.option("--out", "path", required=True, type=click.Path(dir_okay=False), help="PEM file to create.")
@click.option("--name", default="Awareness Portal M365", show_default=True, help="Certificate subject (CN).")
@click.option("--days", default=730, show_default=True, type=click.IntRange(1, 3650), help="Validity.")
@with_appcontext
def m365_certificate(path, name, days):
    """Create a key pair and self-signed certificate for Microsoft (certificate credentials).

    Writes key + certificate to --out (mode 0600, never overwritten) and prints the certificate,
    its thumbprint and expiry: upload the certificate to the app registration ("Certificates &
    secrets"), then set M365_CLIENT_CERTIFICATE to the file on every host (web and runner).
    """
    try:
        credential, certificate = credentials.create_certificate(path, name, days)
    except FileExistsError:
        raise click.UsageError(f"{path} exists; choose another file (it is never overwritten)") from None
    click.echo(certificate, nl=False)
    click.echo(f"Thumbprint (SHA-1): {credential.thumbprint}")
    click.echo(f"Valid until: {credential.not_after:%Y-%m-%d %H:%M} UTC")
    click.echo(f"Private key and certificate written to {path} (mode 0600); keep it secret.")
    click.echo(
        "Upload the certificate above (save it as a .cer/.pem file) to the app registration under "
        f"Certificates & secrets, then set M365_CLIENT_CERTIFICATE={path}."
    )

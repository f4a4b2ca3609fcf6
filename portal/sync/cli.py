"""`flask --app wsgi sync run [--customer ID]`: one sync pass in the foreground, with a summary."""

import logging

import click
from flask.cli import AppGroup

from portal.extensions import db
from portal.m365.graph import GraphError
from portal.models import Customer
from portal.sync import service, tasks

log = logging.getLogger(__name__)
sync_cli = AppGroup("sync", help="The M365 contact synchronization.")


@sync_cli.command("run")
@click.option("--customer", "customer_id", type=int, help="Only this customer (default: every due one).")
def run_command(customer_id):
    """Sync now, in the foreground, and print what each run changed."""
    if customer_id is not None:
        customer = db.session.get(Customer, customer_id)
        if customer is None:
            raise click.UsageError(f"No customer with id {customer_id}.")
        customers = [customer]
    else:
        customers = tasks.sync_candidates()
    failed = sum(not _sync_one(customer) for customer in customers)
    if not customers:
        click.echo('No customer is due for a sync (prerequisite, connection, "Synchronization active").')
    if failed:
        click.echo(f"{failed} of {len(customers)} synchronizations failed.", err=True)
        raise SystemExit(1)


def _sync_one(customer):
    """Sync one customer and print its line; False when it failed (any error: the others still run)."""
    try:
        run = service.run_sync(customer.id, "manual", wait_seconds=60)
    except GraphError as error:
        click.echo(f"{customer.name} (#{customer.id}): failed: {error.message}")
        return False
    except Exception as error:
        db.session.rollback()
        log.exception("customer %s: sync failed", customer.id)
        click.echo(f"{customer.name} (#{customer.id}): failed: {error.__class__.__name__}: {error}")
        return False
    click.echo(summary(customer, run))
    return True


def summary(customer, run):
    """One line per run: status, counts, Graph requests, duration."""
    counts = ", ".join(f"{k} {v}" for k, v in sorted((run.counts or {}).items()) if v) or "no changes"
    resync = f", full resync ({run.resync_reason})" if run.full_resync else ""
    extra = f" — {run.message}" if run.message else ""
    duration = f"{run.duration:.1f}s" if run.duration is not None else "-"
    return (
        f"{customer.name} (#{customer.id}): {run.status}: {counts}; "
        f"{run.graph_requests} Graph requests, {duration}{resync}{extra}"
    )


def register_cli(app):
    app.cli.add_command(sync_cli)

"""`flask scim-token create --customer ID`: a new Entra provisioning token, for operators and scripts.

The secret is the last line of the output (`| tail -n 1`); it is shown this once and stored hashed.
"""

import click
from flask.cli import with_appcontext

from portal.extensions import db
from portal.models import Customer
from portal.scim import tokens

OPERATOR = "operator (command line)"


@click.group("scim-token")
def scim_token():
    """Entra provisioning tokens."""


@scim_token.command("create")
@click.option("--customer", "customer_id", type=int, required=True, help="Id of the customer.")
@click.option("--label", default="", help="A name to tell the token apart on the page.")
@with_appcontext
def create(customer_id, label):
    """Create a token for a customer and print it on the last line."""
    customer = db.session.get(Customer, customer_id)
    if customer is None:
        raise click.UsageError(f"No customer with id {customer_id}.")
    try:
        token, secret = tokens.create(customer, label, OPERATOR)
    except tokens.TokenError as exc:
        raise click.UsageError(str(exc)) from None
    db.session.commit()
    click.echo(f"Token {token.label!r} (ending …{token.hint}) for {customer.name}; shown this once:")
    click.echo(secret)


def register_cli(app):
    app.cli.add_command(scim_token)

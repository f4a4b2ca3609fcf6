"""Web writes to a customer's contact book hold the customer's lock, as the sync does.

A sync reads the book, asks Microsoft, then writes what it planned: a contact deleted, a group
renamed or a subscription ended in between would break its plan (a KeyError half-way, an email or a
group name taken twice). So every view that changes the book is a `book_write`: on POST it takes the
working customer's lock (waiting up to SYNC_LOCK_WEB_WAIT seconds for a sync to finish) and changes
nothing while a sync runs: the admin reads "A synchronization of this customer is running; please
try again in a minute." (409; an htmx request shows it in the flash area).
"""

import functools

from flask import current_app, request
from flask_babel import gettext as _

from portal import htmx
from portal.auth import access
from portal.sync import lock


def book_write(view):
    """Run the view's POST holding the working customer's lock (GET pages only show forms)."""

    @functools.wraps(view)
    def holding_the_lock(*args, **kwargs):
        if request.method != "POST":
            return view(*args, **kwargs)
        customer = access.current_customer()
        with lock.held(customer.id, current_app.config["SYNC_LOCK_WEB_WAIT"]):
            return view(*args, **kwargs)

    return holding_the_lock


def init_app(app):
    app.register_error_handler(lock.CustomerBusy, _busy)


def _busy(busy):
    """The book is held by a sync: nothing changed, and the admin is told so."""
    return htmx.render(
        "errors/error.html",
        "errors/_error.html",
        code=409,
        title=_("A synchronization is running"),
        description=_(busy.message),
    ), 409

"""Pytest plugin: a real SMTP server (aiosmtpd) on localhost and a portal that sends through it.

Loaded by tests/conftest.py's `pytest_plugins`. Fixtures:
  smtp_port    a free port on 127.0.0.1
  smtp_server  an SMTP server on `smtp_port`; `.inbox.messages` holds what it received
  mail_app     the portal configured to send through `smtp_port` (the server may or may not be up)
`Inbox` is the handler keeping the messages, for a test that starts a server of its own.
"""

import email
import email.policy
import socket

import pytest
from aiosmtpd.controller import Controller

from portal import create_app
from portal.extensions import db
from tests.conftest import make_test_config


class Inbox:
    """An aiosmtpd handler keeping every received message."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            (envelope.rcpt_tos, email.message_from_bytes(envelope.content, policy=email.policy.default))
        )
        return "250 OK"


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_port():
    return _free_port()


@pytest.fixture
def smtp_server(smtp_port):
    """A real SMTP server on localhost; `.inbox.messages` holds what it received."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    controller.inbox = inbox
    yield controller
    controller.stop()


@pytest.fixture
def mail_app(app, smtp_port):
    """The portal configured to send through the SMTP port (the server may or may not be up)."""
    configured = create_app(
        make_test_config(
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=smtp_port,
            MAIL_SUPPRESS_SEND=False,
            MAIL_DEFAULT_SENDER="Portal <portal@example.test>",
        )
    )
    with configured.app_context():
        yield configured
        db.session.remove()

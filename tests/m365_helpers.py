"""Helpers for the M365 tests that talk to the emulator over real HTTP (no mocked client).

The Flask test client cannot follow a redirect to another host, so the Microsoft leg is driven
with `requests`: GET the authorize URL the portal redirected to, POST the sign-in form back,
and feed the Location (our /m365/callback?code=...&state=...) to the portal's test client.
"""

import uuid
from urllib.parse import parse_qsl, urlsplit

import requests
from sqlalchemy import func, select

from m365_emulator.demo import DEMO_ADMIN_UPN
from portal.extensions import db
from portal.models import M365Connection, SyncSettings

REDIRECT_URI = "http://localhost/m365/callback"  # SERVER_NAME=localhost in the test config


def register_app(emulator, redirect_uri, permissions=None):
    """A freshly registered app at the emulator (its own consent state): (client id, secret)."""
    client_id, secret = str(uuid.uuid4()), "secret-" + uuid.uuid4().hex
    emulator.register_app(client_id, secret, [redirect_uri], permissions=permissions)
    return client_id, secret


def emulator_settings(emulator, client_id, secret, redirect_uri=""):
    """The portal's settings for talking to the emulator as the app `client_id` (short waits)."""
    return dict(
        M365_AUTHORITY=emulator.authority,
        M365_GRAPH_URL=emulator.graph_url,
        M365_TENANT="organizations",
        M365_CLIENT_ID=client_id,
        M365_CLIENT_SECRET=secret,
        M365_REDIRECT_URI=redirect_uri,
        M365_GRAPH_TIMEOUT=5,
        M365_GRAPH_MAX_WAIT=2,
        M365_GRAPH_BACKOFF=0.01,
        M365_GRAPH_MAX_ATTEMPTS=4,
    )


def configure(app, emulator, permissions=None, **overrides):
    """Point the test app at the emulator with a freshly registered app (its own consent state).

    `permissions`: the app registration's configured permissions (what admin consent to
    `.default` grants); the emulator's default is User.Read.All and GroupMember.Read.All."""
    client_id, secret = register_app(emulator, REDIRECT_URI, permissions=permissions)
    app.config.update(emulator_settings(emulator, client_id, secret), M365_CONSENT_PROPAGATION_WAIT=0)
    app.config.update(overrides)
    return client_id


def connect_customer(
    app, emulator, customer, admin, connection="delegated", sync_active=False, recipients=None, **overrides
):
    """`customer` connected to the emulator's tenant, the way every emulator test starts.

    The portal points at the emulator (`configure`, `overrides` on top), "Microsoft User
    Synchronization" is on at the customer's reseller, its notification recipients are `recipients`
    (when given); then `admin` connects it through the real Microsoft leg: `connection` "delegated"
    (sign-in), "application" (sign-in and admin consent) or None (not connected yet). With
    `sync_active`, "Synchronization active" is switched on. Returns `admin`'s signed-in test client."""
    configure(app, emulator, **overrides)
    customer.reseller.ms_user_sync = True
    if recipients is not None:
        customer.notification_recipients = recipients
    db.session.commit()
    portal_client = app.test_client().sign_in_as(admin)
    if connection == "delegated":
        sign_in(portal_client)
    elif connection == "application":
        connect_application(portal_client)
    else:
        assert connection is None, connection
    if sync_active:
        SyncSettings.for_customer(customer).sync_active = True
        db.session.commit()
    return portal_client


def start(portal_client, connection_type=None):
    """Click "Release M365 Interface" (with a connection type); returns the authorize URL at the emulator."""
    data = {"connection_type": connection_type} if connection_type else {}
    response = portal_client.post("/m365/connect", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response.headers["Location"]


def microsoft_leg(authorize_url, account=DEMO_ADMIN_UPN, action="accept", consent=True):
    """Sign in on the emulator's page; returns the final response (302 back to us, or a page)."""
    with requests.Session() as browser:
        page = browser.get(authorize_url, timeout=10)
        assert page.status_code == 200, page.text[:500]
        form = dict(parse_qsl(urlsplit(authorize_url).query))
        form.update(account=account, action=action)
        if consent:
            form["consent"] = "on"
        return browser.post(authorize_url.split("?")[0], data=form, allow_redirects=False, timeout=10)


def callback_path(answer):
    """The portal path (with query) the emulator redirected the browser to."""
    assert answer.status_code == 302, answer.text[:500]
    location = urlsplit(answer.headers["Location"])
    assert location.path == "/m365/callback"
    return f"{location.path}?{location.query}"


def sign_in(portal_client, **leg):
    """The whole connect flow; returns the portal's response to the callback."""
    answer = microsoft_leg(start(portal_client), **leg)
    response = portal_client.get(callback_path(answer))
    db.session.expire_all()
    return response


def consent_url(portal_client, account=DEMO_ADMIN_UPN):
    """Application permissions, first leg: sign in (OpenID Connect); returns the admin-consent URL
    the portal sends the administrator to."""
    answer = microsoft_leg(start(portal_client, "application"), account=account)
    response = portal_client.get(callback_path(answer))
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    location = response.headers["Location"]
    assert "/v2.0/adminconsent?" in location, location
    return location


def consent_path(portal_client, account=DEMO_ADMIN_UPN, action="accept"):
    """Application permissions up to Microsoft's answer to the admin consent: the callback path."""
    return callback_path(microsoft_leg(consent_url(portal_client, account), account=account, action=action))


def connect_application(portal_client, account=DEMO_ADMIN_UPN, action="accept"):
    """The whole application-permission flow (sign-in, admin consent); the portal's last response."""
    response = portal_client.get(consent_path(portal_client, account, action))
    db.session.expire_all()
    return response


def flashes(portal_client):
    """The page the callback redirects to, as text."""
    return portal_client.get("/m365/").get_data(as_text=True)


def connections():
    """How many M365 connections are stored."""
    return db.session.scalar(select(func.count()).select_from(M365Connection))

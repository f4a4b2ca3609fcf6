"""Imports and the daily sync of an application-permission connection (client credentials), against
the M365 emulator over HTTP, through the runner; what happens when the consent goes away."""

from sqlalchemy import select

from portal.extensions import db
from portal.m365 import apponly
from portal.models import M365Connection
from portal.sync.connection import send_pending_reauth_notices
from tests import m365_helpers as m365
from tests.sync_helpers import book, imported, outbox, sync

SALES = ["adele.vance", "juergen.mueller", "siobhan.obrien", "isaiah.langer"]


def token_requests(emulator):
    return [e for e in emulator.log() if e["path"].endswith("/oauth2/v2.0/token")]


def connection():
    db.session.expire_all()
    return db.session.scalar(select(M365Connection))


def reauth_mails(customer):
    """The health emails, after the runner's sweep queued any the failed run's rollback dropped."""
    send_pending_reauth_notices()
    return [m for m in outbox(customer) if m.kind == "reauth_required"]


def test_application_connection_imports_and_runs_the_daily_sync(app, emulator, app_connected_acme):
    everyone = imported(app, emulator, app_connected_acme, SALES)
    assert len(book(app_connected_acme)) == 4
    emulator.control("PATCH", f"users/{everyone['adele.vance']['id']}", {"surname": "Vance-Smith"})
    run = sync(app, app_connected_acme, trigger="daily")
    assert run.status == "succeeded", run.message
    adele = book(app_connected_acme)["adele.vance@contosodemo.onmicrosoft.com"]
    assert adele.last_name == "Vance-Smith"
    # Only client credentials were ever used: no refresh token grant, none stored.
    assert all("refresh_token" not in (e.get("query") or "") for e in token_requests(emulator))
    assert connection().refresh_token_encrypted == "" and not connection().needs_reauth


def test_client_credentials_token_is_cached_until_shortly_before_expiry(app, emulator, app_connected_acme):
    tenant = connection().tenant_id
    emulator.control("DELETE", "log")
    first = apponly.access_token(tenant, clock=lambda: 1_000_000)
    again = apponly.access_token(tenant, clock=lambda: 1_000_000 + 60)
    assert again["access_token"] == first["access_token"] and len(token_requests(emulator)) <= 1
    emulator.control("DELETE", "log")
    later = apponly.access_token(tenant, clock=lambda: first["expires_at"] - apponly.MARGIN + 1)
    assert later["access_token"] != first["access_token"] and len(token_requests(emulator)) == 1


def test_withdrawn_consent_pauses_the_sync_reports_once_removes_nothing(app, emulator, app_connected_acme):
    imported(app, emulator, app_connected_acme, SALES)
    emulator.withdraw_consent(app.config["M365_CLIENT_ID"])
    run = sync(app, app_connected_acme)
    assert run.status == "failed"
    stored = connection()
    assert stored.needs_reauth and "Authorization_RequestDenied" in stored.status_reason
    assert "grant admin consent again" in stored.status_reason
    assert len(book(app_connected_acme)) == 4  # nothing removed
    assert len(reauth_mails(app_connected_acme)) == 1
    sync(app, app_connected_acme)  # the next day: skipped, no second email
    mails = reauth_mails(app_connected_acme)
    assert len(mails) == 1 and "Admin consent required" in mails[0].subject
    assert "Grant admin consent again" in mails[0].body_text


def test_deleted_service_principal_is_detected_at_the_token_endpoint(app, emulator, app_connected_acme):
    imported(app, emulator, app_connected_acme, SALES)
    apponly.forget(connection().tenant_id)  # a new process, or the cached token expired
    emulator.control("DELETE", f"service-principals/{app.config['M365_CLIENT_ID']}")
    run = sync(app, app_connected_acme)
    assert run.status == "failed"
    stored = connection()
    assert stored.needs_reauth and "AADSTS7000229" in stored.status_reason
    assert len(book(app_connected_acme)) == 4 and len(reauth_mails(app_connected_acme)) == 1


def test_admin_consent_again_makes_the_connection_healthy(app, world, emulator, app_connected_acme):
    imported(app, emulator, app_connected_acme, SALES)
    emulator.withdraw_consent(app.config["M365_CLIENT_ID"])
    sync(app, app_connected_acme)
    portal = app.test_client().sign_in_as(world.alice)
    page = m365.flashes(portal)
    assert "Admin consent required" in page and "Grant admin consent again" in page
    m365.connect_application(portal)
    assert not connection().needs_reauth and connection().status_reason == ""
    assert sync(app, app_connected_acme).status == "succeeded"
    assert len(book(app_connected_acme)) == 4


def test_delegated_dies_of_sign_in_frequency_while_application_permissions_keep_syncing(
    app, world, emulator, connected_acme
):
    imported(app, emulator, connected_acme, SALES)
    assert sync(app, connected_acme).status == "succeeded"
    # Conditional Access sign-in frequency: every refresh token of the tenant is refused (AADSTS70043).
    emulator.control("POST", "tokens/revoke", {"reason": "sign_in_frequency"})
    assert sync(app, connected_acme).status == "failed"
    assert connection().needs_reauth and "AADSTS70043" in connection().status_reason
    assert len(book(connected_acme)) == 4 and len(reauth_mails(connected_acme)) == 1
    # The same tenant with application permissions: one admin consent, and it keeps syncing.
    m365.connect_application(app.test_client().sign_in_as(world.alice))
    assert connection().connection_type == "application" and not connection().needs_reauth
    emulator.control("POST", "tokens/revoke", {"reason": "sign_in_frequency"})
    for _day in range(2):
        assert sync(app, connected_acme, trigger="daily").status == "succeeded"
    assert len(book(connected_acme)) == 4
    assert len(reauth_mails(connected_acme)) == 1  # the delegated failure's, none since

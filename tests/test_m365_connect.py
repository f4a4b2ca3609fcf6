"""Release M365 Interface: the whole sign-in over real HTTP against the M365 emulator.

Every failure leaves no connection row and says what happened in an admin's words.
"""

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from m365_emulator.demo import DEMO_ADMIN_UPN, DEMO_USER_UPN
from portal.extensions import db
from portal.m365 import tokens
from portal.models import AuditEntry, M365Connection
from tests import m365_helpers as m365
from tests.m365_helpers import connections

NOT_ADMIN = "An M365 administrator account with read access rights for all users and groups is required."


@pytest.fixture
def portal(app, world, emulator):
    """Acme's admin on a portal pointed at the emulator, the prerequisite switched on."""
    return m365.connect_customer(app, emulator, world.acme, world.alice, connection=None)


def test_authorize_request_uses_pkce_state_nonce_and_scopes(portal, emulator, app):
    url = urlsplit(m365.start(portal))
    params = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert url.path == "/organizations/oauth2/v2.0/authorize"
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) >= 43
    assert params["state"] and params["nonce"]
    assert params["scope"].split() == [
        "openid",
        "profile",
        "email",
        "offline_access",
        "User.Read.All",
        "GroupMember.Read.All",
    ]
    assert params["redirect_uri"] == m365.REDIRECT_URI
    assert params["client_id"] == app.config["M365_CLIENT_ID"]


def test_configured_redirect_uri_is_sent(portal, app):
    app.config["M365_REDIRECT_URI"] = "https://portal.example/m365/callback"
    params = parse_qs(urlsplit(m365.start(portal)).query)
    assert params["redirect_uri"] == ["https://portal.example/m365/callback"]


def test_full_connect_flow_stores_the_connection(portal, world, emulator):
    response = m365.sign_in(portal)
    assert response.status_code == 302 and response.headers["Location"].endswith("/m365/")
    connection = db.session.scalar(select(M365Connection))
    assert connection.customer_id == world.acme.id
    assert connection.tenant_id == emulator.tenant_id
    assert connection.tenant_domain == "contosodemo.onmicrosoft.com"
    assert connection.connected_by_id == world.alice.id
    assert connection.connected_by_name == DEMO_ADMIN_UPN
    assert {"User.Read.All", "GroupMember.Read.All"} <= set(connection.scopes.split())
    assert connection.status == "ok" and tokens.decrypt(connection.refresh_token_encrypted)
    page = m365.flashes(portal)
    for text in (
        "M365 interface has been connected",
        "Interface to M365 stored",
        emulator.tenant_id,
        DEMO_ADMIN_UPN,
        "alice@acme.example",
        "End Interface",
    ):
        assert text in page
    assert db.session.scalar(select(AuditEntry.action)) == "interface_connected"


def test_cancel_stores_nothing(portal):
    response = m365.sign_in(portal, action="cancel")
    assert response.status_code == 302
    assert connections() == 0
    assert "cancelled or the consent was declined" in m365.flashes(portal)


def test_non_admin_account_gets_need_admin_page_and_nothing_is_stored(portal):
    answer = m365.microsoft_leg(m365.start(portal), account=DEMO_USER_UPN)
    assert answer.status_code == 200 and "Need admin approval" in answer.text
    # The user returns without granting consent (the page's button posts action=cancel).
    url = m365.start(portal)
    back = m365.microsoft_leg(url, account=DEMO_USER_UPN, action="cancel")
    portal.get(m365.callback_path(back))
    assert connections() == 0
    assert NOT_ADMIN in m365.flashes(portal)


def test_non_admin_of_a_tenant_that_consented_before_cannot_connect_it(portal, app, emulator):
    """Tenant-wide consent lets any user of the tenant sign in with the permissions: only the ID
    token's administrator role proves the person may connect the tenant."""
    emulator.grant_consent(app.config["M365_CLIENT_ID"])
    response = m365.sign_in(portal, account=DEMO_USER_UPN)
    assert response.status_code == 302
    assert connections() == 0
    assert "Only an administrator of this Microsoft 365 tenant can connect it." in m365.flashes(portal)


def test_account_that_cannot_read_the_directory_is_refused(portal, emulator):
    emulator.control("POST", "/_emulator/faults", {"path_pattern": "/v1.0/users", "status": 403, "times": 1})
    m365.sign_in(portal)
    assert connections() == 0
    assert NOT_ADMIN in m365.flashes(portal)


def test_forged_state_is_refused(portal):
    answer = m365.microsoft_leg(m365.start(portal))
    path = m365.callback_path(answer).replace("state=", "state=forged")
    portal.get(path)
    assert connections() == 0
    assert "does not belong to a sign-in started here" in m365.flashes(portal)


def test_replayed_callback_in_another_session_is_refused(portal, app, world):
    answer = m365.microsoft_leg(m365.start(portal))
    other = app.test_client().sign_in_as(world.alice)
    other.get(m365.callback_path(answer))
    db.session.expire_all()
    assert connections() == 0
    assert "does not belong to a sign-in started here" in m365.flashes(other)


def test_nonce_mismatch_is_refused(portal):
    url = m365.start(portal)
    state = parse_qs(urlsplit(url).query)["state"][0]
    answer = m365.microsoft_leg(url)
    # The ID token that comes back was issued for another nonce than the one this sign-in remembers.
    with portal.session_transaction() as session:
        saved = session[f"_state_m365_{state}"]
        saved["data"]["nonce"] = "another-nonce"
        session[f"_state_m365_{state}"] = saved
    portal.get(m365.callback_path(answer))
    assert connections() == 0
    assert "nonce mismatch" in m365.flashes(portal)


def test_tenant_connected_to_another_customer_is_refused(portal, app, world, emulator):
    m365.sign_in(portal)
    rita = app.test_client().sign_in_as(world.rita)
    rita.post("/switch-customer", data={"customer_id": world.globex.id})
    m365.sign_in(rita)
    rows = db.session.scalars(select(M365Connection)).all()
    assert [row.customer_id for row in rows] == [world.acme.id]
    assert "already connected to another customer" in m365.flashes(rita)


def test_microsoft_unreachable_before_sign_in(portal, app):
    app.config["M365_AUTHORITY"] = "http://127.0.0.1:9"
    response = portal.post("/m365/connect")
    assert response.status_code == 302 and response.headers["Location"].endswith("/m365/")
    assert "Microsoft could not be reached" in m365.flashes(portal)
    assert connections() == 0


def test_microsoft_unreachable_during_code_exchange(portal, emulator):
    answer = m365.microsoft_leg(m365.start(portal))
    emulator.control(
        "POST", "/_emulator/faults", {"path_pattern": "*/oauth2/v2.0/token", "status": 503, "times": None}
    )
    try:
        portal.get(m365.callback_path(answer))
    finally:
        emulator.control("DELETE", "/_emulator/faults", None)
    assert connections() == 0
    assert "Microsoft could not be reached" in m365.flashes(portal)


def test_code_is_single_use(portal):
    answer = m365.microsoft_leg(m365.start(portal))
    path = m365.callback_path(answer)
    portal.get(path)
    assert connections() == 1
    portal.get(path)  # the state was consumed: a replay is refused before the code is redeemed
    assert "does not belong to a sign-in started here" in m365.flashes(portal)


def test_signing_in_again_renews_the_same_connection(portal, world):
    m365.sign_in(portal)
    first = db.session.scalar(select(M365Connection))
    first_id, first_token = first.id, first.refresh_token_encrypted
    first.status, first.status_reason = "reauth_required", "token revoked"
    db.session.commit()
    assert "Re-authentication required" in m365.flashes(portal)
    m365.sign_in(portal)
    renewed = db.session.scalar(select(M365Connection))
    assert renewed.id == first_id and renewed.status == "ok" and renewed.status_reason == ""
    assert renewed.refresh_token_encrypted != first_token
    assert connections() == 1
    assert db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all() == [
        "interface_connected",
        "interface_renewed",
    ]


def test_end_interface_then_connect_again(portal):
    m365.sign_in(portal)
    portal.post("/m365/end")
    db.session.expire_all()
    assert connections() == 0
    m365.sign_in(portal)
    assert connections() == 1


def test_abandoned_connect_attempts_keep_the_session_cookie_small(portal):
    for _ in range(30):  # "Release M365 Interface", then back without signing in, thirty times
        url = m365.start(portal)
    cookie = portal.get_cookie("session")
    assert len(cookie.key) + len(cookie.value) < 4000  # browsers drop cookies over 4 KB
    assert portal.get("/m365/").status_code == 200  # still signed in
    portal.get(m365.callback_path(m365.microsoft_leg(url)))
    assert connections() == 1
    assert "M365 interface has been connected" in m365.flashes(portal)


def test_attempt_started_in_another_tab_can_still_complete(portal):
    first_tab = m365.start(portal)
    m365.start(portal)  # a second tab, abandoned
    portal.get(m365.callback_path(m365.microsoft_leg(first_tab)))
    assert connections() == 1

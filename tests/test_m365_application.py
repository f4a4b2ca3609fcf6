"""Application permissions: sign-in (OpenID Connect), admin consent, client credentials — over real
HTTP against the M365 emulator. Every failure stores nothing and says why in an admin's words."""

import hashlib
import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import delete, func, select

from m365_emulator.demo import DEMO_ADMIN_UPN, DEMO_USER_UPN
from portal.extensions import db
from portal.m365 import tokens
from portal.models import AuditEntry, Contact, GroupSubscription, M365Connection, OAuthFlow
from tests import m365_helpers as m365
from tests.m365_helpers import connections

DECLINED = "The admin consent was declined or cancelled; nothing was stored."
ONLY_ADMINS = "Only an administrator of this Microsoft 365 tenant can connect it."
MISMATCH = "The admin consent came back for another Microsoft 365 tenant than the one you signed in to."


@pytest.fixture
def portal(app, world, emulator):
    """Acme's admin on a portal pointed at the emulator, the prerequisite switched on."""
    return m365.connect_customer(app, emulator, world.acme, world.alice, connection=None)


def query_of(url):
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def test_sign_in_asks_only_who_and_which_tenant(portal):
    url = urlsplit(m365.start(portal, "application"))
    assert url.path == "/organizations/oauth2/v2.0/authorize"
    params = query_of(url.geturl())
    assert params["scope"].split() == ["openid", "profile", "email"]
    assert params["code_challenge_method"] == "S256" and params["nonce"] and params["state"]


def test_admin_consent_request_goes_to_the_signed_in_tenant(portal, app, emulator):
    url = m365.consent_url(portal)
    assert urlsplit(url).path == f"/{emulator.tenant_id}/v2.0/adminconsent"
    params = query_of(url)
    assert params["scope"] == "https://graph.microsoft.com/.default"
    assert params["client_id"] == app.config["M365_CLIENT_ID"]
    assert params["redirect_uri"] == m365.REDIRECT_URI and len(params["state"]) >= 32
    assert connections() == 0  # nothing is stored before the consent is proven


def test_application_connection_is_stored_without_a_refresh_token(portal, world, emulator):
    response = m365.connect_application(portal)
    assert response.status_code == 302 and response.headers["Location"].endswith("/m365/")
    connection = db.session.scalar(select(M365Connection))
    assert connection.customer_id == world.acme.id and connection.tenant_id == emulator.tenant_id
    assert connection.connection_type == "application" and connection.refresh_token_encrypted == ""
    assert connection.connected_by_name == DEMO_ADMIN_UPN
    assert set(connection.scopes.split()) == {"User.Read.All", "GroupMember.Read.All"}
    page = m365.flashes(portal)
    for text in ("M365 interface has been connected", "Application permissions (admin consent)", "Switch to"):
        assert text in page
    assert db.session.scalar(select(AuditEntry.action)) == "interface_connected"
    # The emulator saw a client-credentials request at the tenant's own token endpoint.
    token_calls = [e for e in emulator.log() if e["path"].endswith("/oauth2/v2.0/token")]
    assert token_calls[-1]["path"] == f"/{emulator.tenant_id}/oauth2/v2.0/token"


def test_declined_consent_stores_nothing(portal):
    m365.connect_application(portal, action="cancel")
    assert connections() == 0
    assert DECLINED in m365.flashes(portal)


def test_non_admin_is_refused_at_the_sign_in_and_never_sent_to_consent(portal):
    answer = m365.microsoft_leg(m365.start(portal, "application"), account=DEMO_USER_UPN)
    response = portal.get(m365.callback_path(answer))
    assert response.status_code == 302 and "adminconsent" not in response.headers["Location"]
    assert connections() == 0
    assert ONLY_ADMINS in m365.flashes(portal)


def test_a_non_admin_crafting_the_consent_answer_of_a_consented_tenant_connects_nothing(
    portal, world, emulator
):
    """Issue 20, row 1: the tenant consented earlier (another customer ended its interface); a non-admin
    of it signs in, then types the consent answer himself instead of visiting the consent page."""
    emulator.grant_consent(portal.application.config["M365_CLIENT_ID"])
    answer = m365.microsoft_leg(m365.start(portal, "application"), account=DEMO_USER_UPN)
    states = [query_of(answer.headers["Location"])["state"], "0" * 43]
    back = portal.get(m365.callback_path(answer)).headers["Location"]
    states += [query_of(back)["state"]] if "/adminconsent?" in back else []  # a consent state, if given
    for state in states:
        crafted = f"/m365/callback?admin_consent=True&tenant={emulator.tenant_id}&state={state}"
        assert portal.get(crafted).status_code == 302
    assert connections() == 0
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 0
    assert "M365 interface has been connected" not in m365.flashes(portal)


def test_an_app_registration_without_role_claims_proves_no_administrator(app, world, emulator):
    """No `wids` in the ID token (the manifest's groupMembershipClaims unset) is no proof: refused."""
    client_id = m365.configure(app, emulator)
    emulator.control(
        "POST",
        "apps",
        {
            "client_id": client_id,
            "client_secret": app.config["M365_CLIENT_SECRET"],
            "redirect_uris": [m365.REDIRECT_URI],
            "groupMembershipClaims": "None",
        },
    )
    world.northwind.ms_user_sync = True
    db.session.commit()
    portal = app.test_client().sign_in_as(world.alice)
    for connection_type in ("application", "delegated"):
        answer = m365.microsoft_leg(m365.start(portal, connection_type))
        portal.get(m365.callback_path(answer))
        assert connections() == 0
        assert ONLY_ADMINS in m365.flashes(portal)


def test_consent_answer_for_another_tenant_is_refused(portal):
    path = m365.consent_path(portal)
    forged = path.replace("tenant=", "tenant=0000000a-0000-4000-8000-00000000000b&x=")
    portal.get(forged)
    assert connections() == 0
    assert MISMATCH in m365.flashes(portal)


def test_consent_answer_with_a_forged_state_is_refused(portal):
    path = m365.consent_path(portal).replace("state=", "state=forged")
    portal.get(path)
    assert connections() == 0
    assert "does not belong to a sign-in started here" in m365.flashes(portal)


def test_consent_answer_replayed_in_another_session_is_refused(portal, app, world):
    path = m365.consent_path(portal)
    other = app.test_client().sign_in_as(world.alice)
    other.get(path)
    db.session.expire_all()
    assert connections() == 0
    assert "does not belong to a sign-in started here" in m365.flashes(other)


def test_missing_application_permission_is_explained_and_nothing_stored(app, world, emulator):
    m365.configure(app, emulator, permissions=["User.Read.All"])  # GroupMember.Read.All not configured
    world.northwind.ms_user_sync = True
    db.session.commit()
    portal = app.test_client().sign_in_as(world.alice)
    m365.connect_application(portal)
    assert connections() == 0
    assert "still may not read all users and groups with application permissions" in m365.flashes(portal)


def test_microsoft_unreachable_at_the_consent_answer_stores_nothing(portal, emulator):
    path = m365.consent_path(portal)
    emulator.add_fault("*/oauth2/v2.0/token", status=503, times=None)
    try:
        portal.get(path)
    finally:
        emulator.control("DELETE", "faults")
    assert connections() == 0
    assert "Microsoft could not be reached" in m365.flashes(portal)


def _linked_book(world, connection):
    """Contacts linked to M365 users, a group subscription and delta links, as a sync leaves them."""
    for n in range(3):
        db.session.add(
            Contact(
                customer_id=world.acme.id,
                first_name=f"F{n}",
                last_name=f"L{n}",
                email=f"p{n}@contosodemo.onmicrosoft.com",
                email_key=f"p{n}@contosodemo.onmicrosoft.com",
                origin="m365",
                m365_user_id=f"user-{n}",
            )
        )
    db.session.add(GroupSubscription(customer_id=world.acme.id, m365_group_id="g-1", display_name="Sales"))
    connection.users_delta_link = "http://graph/users/delta?$deltatoken=abc"
    connection.groups_delta_link = "http://graph/groups/delta?$deltatoken=def"
    db.session.commit()


def _book_state():
    db.session.expire_all()
    links = sorted(db.session.execute(select(Contact.email, Contact.m365_user_id)).all())
    subscriptions = db.session.scalars(select(GroupSubscription.m365_group_id)).all()
    connection = db.session.scalar(select(M365Connection))
    return links, subscriptions, (connection.id, connection.users_delta_link, connection.groups_delta_link)


def test_switching_between_types_keeps_every_contact_link_and_subscription(portal, world):
    m365.sign_in(portal)
    _linked_book(world, db.session.scalar(select(M365Connection)))
    before = _book_state()
    m365.connect_application(portal)
    connection = db.session.scalar(select(M365Connection))
    assert connection.connection_type == "application" and connection.refresh_token_encrypted == ""
    assert _book_state() == before
    portal.get(m365.callback_path(m365.microsoft_leg(m365.start(portal, "delegated"))))
    db.session.expire_all()
    connection = db.session.scalar(select(M365Connection))
    assert connection.connection_type == "delegated" and tokens.decrypt(connection.refresh_token_encrypted)
    assert _book_state() == before
    actions = db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["interface_connected", "interface_switched", "interface_switched"]


def test_failed_switch_leaves_the_delegated_connection_as_it_was(portal, world):
    m365.sign_in(portal)
    stored = db.session.scalar(select(M365Connection))
    before = (stored.connection_type, stored.refresh_token_encrypted)
    m365.connect_application(portal, action="cancel")
    stored = db.session.scalar(select(M365Connection))
    assert (stored.connection_type, stored.refresh_token_encrypted) == before
    assert DECLINED in m365.flashes(portal)


def _age_flows(by):
    for flow in db.session.scalars(select(OAuthFlow)):
        flow.created_at -= by
    db.session.commit()


def test_a_consent_answered_after_ten_minutes_is_refused(portal):
    path = m365.consent_path(portal)
    _age_flows(timedelta(minutes=11))
    portal.get(path)
    assert connections() == 0
    assert "does not belong to a sign-in started here" in m365.flashes(portal)


def test_a_consent_answer_works_once_and_its_state_is_kept_on_the_server(portal):
    path = m365.consent_path(portal)
    flow = db.session.scalar(select(OAuthFlow))
    assert flow.purpose == OAuthFlow.CONSENT and flow.details["tid"]
    state = query_of(path)["state"]
    assert state not in flow.state_hash and flow.state_hash == hashlib.sha256(state.encode()).hexdigest()
    with portal.session_transaction() as session:  # the signed cookie names no tenant, no customer
        assert flow.details["tid"] not in json.dumps(dict(session))
    assert portal.get(path).status_code == 302
    assert connections() == 1
    db.session.execute(delete(M365Connection))
    db.session.commit()
    portal.get(path)  # the same answer again
    assert connections() == 0 and db.session.scalar(select(func.count()).select_from(OAuthFlow)) == 0


def test_signing_out_ends_the_flows_the_session_started(portal):
    m365.consent_url(portal)
    assert db.session.scalar(select(func.count()).select_from(OAuthFlow)) == 1
    portal.post("/logout")
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(OAuthFlow)) == 0

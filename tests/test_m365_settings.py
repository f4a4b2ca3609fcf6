"""The "Synchronize contacts" page without Microsoft: prerequisite, settings switches, audit log,
"Link active" off, "End Interface", token encryption at rest, the one re-auth email."""

import pytest
from sqlalchemy import select, text

from portal.extensions import db
from portal.m365 import tokens
from portal.models import AuditEntry, Contact, ContactGroup, GroupSubscription, M365Connection, SyncSettings
from portal.models.contacts import Origin
from portal.sync import connection as service
from tests.conftest import TENANT


def add_contact(customer, email, **fields):
    contact = Contact(customer_id=customer.id, first_name="F", last_name=email.split("@")[0], **fields)
    contact.set_email(email)
    db.session.add(contact)
    db.session.flush()
    return contact


def page(client):
    return client.get("/m365/").get_data(as_text=True)


def test_prerequisite_off_explains_and_offers_nothing_else(alice_client, world):
    text_ = page(alice_client)
    assert "Microsoft User Synchronization" in text_
    assert "Release M365 Interface" not in text_
    assert "Synchronization active" not in text_
    assert alice_client.post("/m365/connect").status_code == 400


def test_not_connected_offers_release_button(alice_client, sync_on):
    text_ = page(alice_client)
    assert "Release M365 Interface" in text_
    assert (
        "An M365 administrator account with read access rights for all users and groups is required." in text_
    )
    assert "End Interface" not in text_


def test_connected_page_shows_tenant_who_and_labels(alice_client, connected):
    text_ = page(alice_client)
    for label in (
        "M365 interface has been connected",
        "M365-API",
        "Interface to M365 stored",
        "acme.onmicrosoft.com",
        TENANT,
        "admin@acme.onmicrosoft.com",
        "End Interface",
        "Synchronization active",
        "Link active",
        "Manual",
        "Automatic",
        'role="switch"',
    ):
        assert label in text_


def test_release_button_hidden_while_the_portal_is_not_configured(app, alice_client, sync_on):
    app.config["M365_CLIENT_ID"] = ""
    text_ = page(alice_client)
    assert "Release M365 Interface" not in text_ and "M365_CLIENT_ID" in text_


def test_release_button_requires_csrf(alice_client, sync_on):
    assert alice_client.post("/m365/connect", csrf=False).status_code == 400


def test_switch_saves_at_once_and_shows_who(alice_client, connected, world):
    response = alice_client.post(
        "/m365/settings/sync_active", data={"value": "on"}, headers={"HX-Request": "true"}
    )
    row = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="setting-sync_active"' in row and 'aria-checked="true"' in row
    assert "alice@acme.example" in row
    assert "m365-audit-changed" in response.headers["HX-Trigger"]
    db.session.expire_all()
    settings = db.session.get(SyncSettings, world.acme.id)
    assert settings.sync_active is True
    assert settings.changed["sync_active"]["by"] == "alice@acme.example"
    actions = db.session.scalars(
        select(AuditEntry.action).where(AuditEntry.customer_id == world.acme.id)
    ).all()
    assert actions == ["sync_active_on"]
    assert "Synchronization active switched on" in alice_client.get("/m365/audit").get_data(as_text=True)


def test_switch_without_htmx_redirects_back(alice_client, connected):
    response = alice_client.post("/m365/settings/sync_active", data={"value": "on"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/m365/")


def test_mode_switch_records_and_triggers_panel_refresh(alice_client, connected, world):
    response = alice_client.post(
        "/m365/settings/mode", data={"mode": "automatic"}, headers={"HX-Request": "true"}
    )
    assert "m365-mode-changed" in response.headers["HX-Trigger"]
    db.session.expire_all()
    assert db.session.get(SyncSettings, world.acme.id).mode == "automatic"
    assert alice_client.post("/m365/settings/mode", data={"mode": "bogus"}).status_code == 400
    assert "Mode set to Automatic" in page(alice_client)


def test_switching_to_automatic_loads_the_groups_once(alice_client, connected, world):
    from portal.models import Job

    alice_client.post("/m365/settings/mode", data={"mode": "automatic"}, headers={"HX-Request": "true"})
    alice_client.post("/m365/settings/mode", data={"mode": "automatic"}, headers={"HX-Request": "true"})
    db.session.expire_all()
    jobs = db.session.scalars(db.select(Job).where(Job.customer_id == world.acme.id)).all()
    assert [job.kind for job in jobs] == ["m365_groups_load"]


def test_settings_refused_when_not_connected(alice_client, sync_on):
    assert alice_client.post("/m365/settings/sync_active", data={"value": "on"}).status_code == 409


def test_link_active_off_asks_first_then_removes_only_automatic_links(alice_client, connected, world):
    auto = add_contact(world.acme, "auto@acme.example", m365_user_id="u-1", linked_automatically=True)
    imported = add_contact(world.acme, "imported@acme.example", m365_user_id="u-2", origin=Origin.M365)
    other = add_contact(world.globex, "other@globex.example", m365_user_id="u-3", linked_automatically=True)
    SyncSettings.for_customer(world.acme).link_active = True
    db.session.commit()

    asked = alice_client.post(
        "/m365/settings/link_active", data={"value": "off"}, headers={"HX-Request": "true"}
    )
    assert "removes 1 automatically created links" in asked.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(SyncSettings, world.acme.id).link_active is True
    assert db.session.get(Contact, auto.id).m365_user_id == "u-1"

    done = alice_client.post(
        "/m365/settings/link_active", data={"value": "off", "confirm": "yes"}, headers={"HX-Request": "true"}
    )
    assert 'aria-checked="false"' in done.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(SyncSettings, world.acme.id).link_active is False
    unlinked = db.session.get(Contact, auto.id)
    assert unlinked.m365_user_id is None and unlinked.linked_automatically is False
    assert db.session.get(Contact, imported.id).m365_user_id == "u-2"
    assert db.session.get(Contact, other.id).m365_user_id == "u-3"
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "link_active_off"))
    assert "1 automatically created links removed" in entry.detail


def test_link_active_off_without_automatic_links_needs_no_confirmation(alice_client, connected, world):
    SyncSettings.for_customer(world.acme).link_active = True
    db.session.commit()
    alice_client.post("/m365/settings/link_active", data={"value": "off"}, headers={"HX-Request": "true"})
    db.session.expire_all()
    assert db.session.get(SyncSettings, world.acme.id).link_active is False


def test_end_interface_removes_tokens_and_state_but_keeps_contacts_and_groups(alice_client, connected, world):
    contact = add_contact(world.acme, "kept@acme.example", m365_user_id="u-9", origin=Origin.M365)
    group = ContactGroup(customer_id=world.acme.id, name="Sales", origin=Origin.M365, m365_group_id="g-1")
    db.session.add(group)
    db.session.flush()
    db.session.add(
        GroupSubscription(customer_id=world.acme.id, m365_group_id="g-1", contact_group_id=group.id)
    )
    db.session.commit()

    assert "Contacts and contact groups stay" in alice_client.get("/m365/end").get_data(as_text=True)
    response = alice_client.post("/m365/end")
    assert response.headers["Location"].endswith("/m365/")
    db.session.expire_all()
    assert db.session.scalar(select(M365Connection)) is None
    assert db.session.scalar(select(GroupSubscription)) is None
    assert db.session.get(Contact, contact.id) is not None
    assert db.session.get(ContactGroup, group.id) is not None
    assert "Release M365 Interface" in page(alice_client)
    assert "Interface ended" in page(alice_client)


def test_other_customers_connection_is_not_shown(world, connected, app):
    bob_client = app.test_client().sign_in_as(world.bob)
    text_ = page(bob_client)
    assert TENANT not in text_


def test_refresh_token_is_not_readable_in_the_raw_database(connected):
    raw = db.session.execute(text("SELECT refresh_token_encrypted FROM m365_connection")).scalar()
    assert raw and "plain-refresh-token-123" not in raw
    assert tokens.decrypt(raw) == "plain-refresh-token-123"


def test_generated_key_file_is_created_once_and_reused(tmp_path):
    from portal import create_app
    from tests.conftest import make_test_config

    key_file = tmp_path / "token.key"
    config = make_test_config(TOKEN_ENCRYPTION_KEY="", TOKEN_KEY_FILE=str(key_file))
    first = create_app(config)
    with first.app_context():
        secret = tokens.encrypt("x")
    assert key_file.exists() and oct(key_file.stat().st_mode & 0o777) == "0o600"
    with create_app(config).app_context():
        assert tokens.decrypt(secret) == "x"


RACE = """
import sys, time
from portal.m365.tokens import generated_key
start = float(sys.argv[2])
while time.time() < start:
    pass
print(generated_key(sys.argv[1]))
"""


def test_processes_starting_at_once_all_get_the_one_generated_key(tmp_path):
    """Web workers and the runner starting together: one key file, every process reads it whole."""
    import subprocess
    import sys
    import time

    key_file, start = tmp_path / "instance" / "token.key", time.time() + 3
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, str(key_file), str(start)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    keys = {racer.communicate(timeout=60)[0].strip() for racer in racers}
    assert keys == {key_file.read_text().strip()} and len(keys.pop()) == 44
    assert [path.name for path in key_file.parent.iterdir()] == ["token.key"]  # no drafts left behind
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"


def test_malformed_key_fails_at_start_up():
    from portal import create_app
    from portal.config import ConfigError
    from tests.conftest import make_test_config

    with pytest.raises(ConfigError, match="Fernet"):
        create_app(make_test_config(TOKEN_ENCRYPTION_KEY="not-a-key"))


def test_reauth_required_sends_one_email_only(connected, world):
    from portal.models.outbox import OutboxMail

    world.acme.notification_recipients = "it@acme.example"
    db.session.commit()
    service.mark_reauth_required(connected, "token revoked")
    db.session.commit()
    service.mark_reauth_required(connected, "token revoked again")  # the next day's run
    service.notify_reauth_required(connected, "again")  # a second runner racing
    service.send_pending_reauth_notices()
    db.session.commit()
    db.session.expire_all()
    mails = db.session.scalars(select(OutboxMail)).all()
    assert len(mails) == 1 and mails[0].recipients == ["it@acme.example"]
    assert "Re-authentication required" in mails[0].subject
    stored = db.session.get(M365Connection, connected.id)
    assert stored.needs_reauth and stored.status_reason == "token revoked"


def test_reauth_notice_lost_with_a_rollback_is_sent_by_the_sweep(connected, world):
    from portal.models.outbox import OutboxMail

    world.acme.notification_recipients = "it@acme.example"
    db.session.commit()
    service.mark_reauth_required(connected, "token revoked")
    db.session.rollback()  # the caller's work failed: the status stays, the queued email is gone
    db.session.expire_all()
    assert db.session.get(M365Connection, connected.id).needs_reauth
    assert db.session.scalars(select(OutboxMail)).all() == []
    assert service.send_pending_reauth_notices() == 1
    assert len(db.session.scalars(select(OutboxMail)).all()) == 1


def test_reauth_page_shows_reason_and_release_button(alice_client, connected):
    service.mark_reauth_required(connected, "Microsoft no longer accepts the stored sign-in")
    db.session.commit()
    text_ = page(alice_client)
    assert "Re-authentication required" in text_
    assert "Microsoft no longer accepts the stored sign-in" in text_
    assert "Release M365 Interface" in text_


def test_connection_for_sync_skips_reauth_and_prerequisite_off(connected, world):
    assert service.connection_for_sync(world.acme).id == connected.id
    service.mark_reauth_required(connected, "x")
    db.session.commit()
    assert service.connection_for_sync(world.acme) is None
    world.northwind.ms_user_sync = False
    db.session.commit()
    assert service.connection_for_sync(world.acme) is None

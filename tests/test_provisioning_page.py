"""The "Entra provisioning" page: access and scoping, tokens (shown once, stored hashed, revoked at
once), the directory source switch (audited), the activity log, and `flask scim-token create`."""

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, select

from portal.extensions import db
from portal.models import AuditEntry, ScimActivity, ScimToken, utcnow
from portal.scim import activity, tokens
from tests.factories import add_contact, add_group

PAGE = "/provisioning/"


def _create(client, label="Entra production"):
    return client.post("/provisioning/tokens", data={"label": label})


def _secret(page):
    match = re.search(r'id="secret-token" value="(scim_[^"]+)"', page)
    assert match, "no secret on the page"
    return match.group(1)


def test_customer_admin_sees_the_page_with_tenant_url_and_guide(app, alice_client, world):
    app.config["PORTAL_BASE_URL"] = "https://portal.example.com"
    page = alice_client.get(PAGE).get_data(as_text=True)
    assert "Acme GmbH" in page and "Microsoft Graph (daily sync)" in page
    assert 'value="https://portal.example.com/scim/v2"' in page
    assert "objectId to externalId" in page and "Test Connection" in page
    assert "Microsoft Entra ID has not sent any request yet." in page


def test_reseller_admin_works_on_the_chosen_customer_and_other_customers_tokens_answer_404(
    app, rita_client, alice_client, world
):
    with rita_client.session_transaction() as session:
        session["customer_id"] = world.globex.id
    assert _create(rita_client, "Globex token").status_code == 201
    globex_token = db.session.scalar(select(ScimToken).where(ScimToken.customer_id == world.globex.id))
    assert globex_token.created_by == "rita@northwind.example"
    # Alice (Acme) can neither see nor revoke Globex's token.
    assert "Globex token" not in alice_client.get(PAGE).get_data(as_text=True)
    assert alice_client.get(f"/provisioning/tokens/{globex_token.id}/revoke").status_code == 404
    assert alice_client.post(f"/provisioning/tokens/{globex_token.id}/revoke").status_code == 404
    db.session.expire_all()
    assert db.session.get(ScimToken, globex_token.id).is_active


def test_state_changes_need_the_csrf_token(alice_client, world):
    assert alice_client.post("/provisioning/tokens", data={"label": "x"}, csrf=False).status_code == 400
    assert alice_client.post("/provisioning/source", data={"to": "scim"}, csrf=False).status_code == 400
    db.session.expire_all()
    assert db.session.scalar(select(ScimToken)) is None and world.acme.directory_source == "graph"


def test_token_secret_is_shown_once_stored_only_hashed_and_revoking_ends_it_at_once(alice_client, world):
    response = _create(alice_client)
    page = response.get_data(as_text=True)
    secret = _secret(page)
    assert "it is shown this once" in page and response.headers["Cache-Control"] == "no-store"
    assert secret not in alice_client.get(PAGE).get_data(as_text=True)  # never again
    token = db.session.scalar(select(ScimToken))
    stored = [str(getattr(token, c.key)) for c in ScimToken.__table__.columns]
    stored += [f"{e.action} {e.detail}" for e in db.session.scalars(select(AuditEntry))]
    assert not any(secret in value or secret[5:] in value for value in stored)
    assert tokens.authenticate(secret, "203.0.113.9").id == token.id
    db.session.commit()
    listed = alice_client.get(PAGE).get_data(as_text=True)
    assert f"…{token.hint}" in listed and "203.0.113.9" in listed and "alice@acme.example" in listed

    confirm = alice_client.get(f"/provisioning/tokens/{token.id}/revoke").get_data(as_text=True)
    assert "It stops working at once" in confirm
    assert alice_client.post(f"/provisioning/tokens/{token.id}/revoke").status_code == 302
    db.session.expire_all()
    assert tokens.authenticate(secret) is None
    page = alice_client.get(PAGE).get_data(as_text=True)
    assert "Revoked" in page and "Entra provisioning token revoked" in page


def test_a_third_active_token_is_refused_with_a_clear_message(alice_client, world):
    _create(alice_client, "one")
    _create(alice_client, "two")
    assert "2 tokens are already active; revoke one" in alice_client.get(PAGE).get_data(as_text=True)
    refused = _create(alice_client, "three")
    assert refused.status_code == 409 and "revoke one before creating another" in refused.text
    assert len(tokens.active_tokens(world.acme)) == 2


def test_switching_the_source_asks_first_and_is_audited_both_ways(alice_client, world):
    confirm = alice_client.get("/provisioning/source?to=scim").get_data(as_text=True)
    assert "stop changing this customer's contact book" in confirm
    assert world.acme.directory_source == "graph"  # asking changed nothing
    assert alice_client.post("/provisioning/source", data={"to": "scim"}).status_code == 302
    db.session.expire_all()
    assert world.acme.provisioned_by_entra
    page = alice_client.get(PAGE).get_data(as_text=True)
    assert "Entra provisioning (SCIM)" in page and "Directory source set to Entra provisioning" in page
    back = alice_client.get("/provisioning/source?to=graph").text
    assert "The daily sync from Microsoft Graph resumes" in back
    alice_client.post("/provisioning/source", data={"to": "graph"})
    db.session.expire_all()
    actions = db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["source_scim", "source_graph"] and world.acme.directory_source == "graph"
    assert alice_client.post("/provisioning/source", data={"to": "ldap"}).status_code == 400


def test_activity_log_shows_words_in_order_escapes_hostile_text_and_counts_the_last_cycle(
    alice_client, world
):
    now = utcnow()

    def request(minutes_ago, operation, status=200, **fields):
        at = now - timedelta(minutes=minutes_ago)
        fields.setdefault("customer_id", world.acme.id)
        db.session.add(ScimActivity(at=at, method="POST", operation=operation, status=status, **fields))

    request(90, "create")  # an earlier cycle: not counted
    request(3, "create", 201, resource_type="User", resource_id="u-1")
    request(2, "disable", resource_type="User", detail="<script>alert('x')</script>")
    request(1, "refused", 401)
    request(0, "query", customer_id=world.globex.id)  # another customer's
    db.session.commit()
    assert activity.last_cycle_counts(world.acme) == {"created": 1, "updated": 0, "disabled": 1, "deleted": 0}
    assert [a.operation for a in activity.recent(world.acme)] == ["refused", "disable", "create", "create"]
    page = alice_client.get(PAGE).get_data(as_text=True)
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "Token refused" in page and "Disabled" in page and "Queried" not in page  # Globex's stays out
    assert page.index("Token refused") < page.index("u-1")


def test_cli_prints_a_usable_token_on_its_last_line(app, world):
    result = app.test_cli_runner().invoke(args=["scim-token", "create", "--customer", str(world.acme.id)])
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    assert tokens.authenticate(secret).customer_id == world.acme.id


# --- contacts disabled by Entra: kept, visible, marked inactive ---------------------------------


def _count_statements(client, path):
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    return len(statements)


def test_inactive_contacts_are_marked_and_groups_count_active_members_without_a_query_per_row(
    alice_client, world
):
    group = add_group(world.acme, "Sales")
    active = [
        add_contact(world.acme, f"a{i}@acme.example", "Ann", f"Active{i}", groups=[group]) for i in range(3)
    ]
    gone = add_contact(world.acme, "gone@acme.example", "Gil", "Gone", groups=[group], origin="scim")
    gone.deactivated_at = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)
    db.session.commit()

    listing = alice_client.get("/contacts/").text
    assert (
        listing.count(">Inactive</span>") == 1 and "Disabled in Microsoft Entra ID on Nov 3, 2026" in listing
    )
    detail = alice_client.get(f"/contacts/{gone.id}").text
    assert ">Inactive</span> Disabled in Microsoft Entra ID on Nov 3, 2026" in detail
    assert "Inactive" not in alice_client.get(f"/contacts/{active[0].id}").text
    page = alice_client.get(f"/contacts/groups/{group.id}").text
    assert "4 members" in page and "3 active, 1 inactive" in page and page.count(">Inactive</span>") == 1
    groups = alice_client.get("/contacts/groups").text
    assert "+ 1 inactive" in groups and "Active members" in groups

    few = _count_statements(alice_client, "/contacts/groups")
    for i in range(5):
        add_contact(
            world.acme, f"late{i}@acme.example", groups=[add_group(world.acme, f"G{i}")]
        ).deactivated_at = utcnow()
    db.session.commit()
    assert _count_statements(alice_client, "/contacts/groups") == few


def test_without_an_m365_connection_link_active_is_switched_on_the_page_and_entra_takes_contacts_over(
    app, alice_client, world
):
    from tests.scim_helpers import Scim, entra_user, provisioned

    existing = add_contact(world.acme, "ann.lee@acme.example", "Ann", "Lee")
    scim = Scim(app, provisioned(world.acme))
    body = entra_user("ann@acme.onmicrosoft.example", "ann.lee@acme.example", "obj-ann")
    refused = scim.post("/Users", body)
    assert refused.status_code == 409 and "Link active" in refused.json["detail"]
    page = alice_client.get(PAGE).get_data(as_text=True)
    assert "Link active is off" in page
    assert alice_client.post("/provisioning/link-active", data={"on": "1"}, csrf=False).status_code == 400
    assert alice_client.post("/provisioning/link-active", data={"on": "1"}).status_code == 302
    assert "Link active is on" in alice_client.get(PAGE).get_data(as_text=True)
    taken_over = scim.post("/Users", body)
    assert taken_over.status_code == 201 and taken_over.json["id"] == str(existing.id)
    assert db.session.scalar(select(AuditEntry.action).order_by(AuditEntry.id.desc())) == "link_active_on"

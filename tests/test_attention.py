"""Problems shown where admins look (start page, "Synchronize contacts"), each with its action:
held deletions, "Re-authentication required", a failed last sync (portal.sync.attention)."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from portal.extensions import db
from portal.m365 import tokens
from portal.models import M365Connection, utcnow
from portal.models.sync import HeldRemoval, SyncRun
from portal.sync import connection as m365_connection
from portal.sync.attention import HELD_DELETIONS, REAUTH_REQUIRED, SYNC_FAILED, problems
from tests.factories import hold_removal


@pytest.fixture
def connected(app, world):
    """Acme: "Microsoft User Synchronization" on, a stored connection."""
    app.config.update(M365_CLIENT_ID="client-id", M365_CLIENT_SECRET="client-secret")
    world.northwind.ms_user_sync = True
    connection = M365Connection(
        customer_id=world.acme.id,
        tenant_id="11111111-2222-4333-8444-555555555555",
        tenant_domain="acme.onmicrosoft.com",
        connected_by_id=world.alice.id,
        connected_by_name="admin@acme.onmicrosoft.com",
        scopes="User.Read.All",
        refresh_token_encrypted=tokens.encrypt("refresh-token"),
    )
    db.session.add(connection)
    db.session.commit()
    return connection


def sync_run(customer, status, message="", minutes_ago=0):
    started = utcnow() - timedelta(minutes=minutes_ago)
    run = SyncRun(
        customer_id=customer.id,
        kind="sync",
        trigger="daily",
        status=status,
        started_at=started,
        finished_at=started,
        counts={},
        message=message,
    )
    db.session.add(run)
    db.session.commit()
    return run


def html(client, path="/"):
    response = client.get(path)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def attention(page):
    """The "Needs your attention" section of a page ("" when there is none)."""
    match = re.search(r'<section class="problems".*?</section>', page, re.S)
    return match.group(0) if match else ""


def test_start_page_shows_held_deletions_with_review_allow_and_keep(alice_client, world):
    hold_removal(world.acme.id, "one@acme.example")
    hold_removal(world.acme.id, "two@acme.example")
    section = attention(html(alice_client))
    assert "2 removals are held by the deletion threshold" in section and 'role="alert"' in section
    assert 'href="/sync/held"' in section
    assert 'action="/sync/held/allow"' in section and 'data-confirm="Remove these 2 contacts?"' in section
    assert 'action="/sync/held/keep"' in section and "Keep these 2 contacts?" in section
    response = alice_client.post("/sync/held/keep")
    assert response.status_code == 302 and response.headers["Location"] == "/sync/held"
    assert db.session.scalars(select(HeldRemoval)).all() == []
    assert attention(html(alice_client)) == ""


def test_another_customers_problems_are_not_shown(app, world, alice_client):
    hold_removal(world.globex.id, "held@globex.example")
    sync_run(world.globex, "failed", "GraphError: globex broke.")
    assert attention(html(alice_client)) == ""
    bob = app.test_client().sign_in_as(world.bob)
    section = attention(html(bob))
    assert "1 removal is held" in section and "GraphError: globex broke." in section


def test_reauth_required_shows_the_reason_and_release_m365_interface(alice_client, world, connected):
    m365_connection.mark_reauth_required(connected, "Microsoft no longer accepts the stored sign-in.")
    db.session.commit()
    section = attention(html(alice_client))
    assert "Re-authentication required" in section
    assert "Microsoft no longer accepts the stored sign-in." in section
    assert 'action="/m365/connect"' in section and "Release M365 Interface" in section
    # The m365 page says it once, in its connection card, with the one button.
    m365_page = html(alice_client, "/m365/")
    assert attention(m365_page) == "" and m365_page.count("Release M365 Interface</button>") == 1


def test_failed_last_sync_shows_its_message_the_run_and_sync_now(alice_client, world, connected):
    sync_run(world.acme, "succeeded", minutes_ago=60 * 24)
    run = sync_run(world.acme, "failed", "GraphError: the tenant answered 503. Nothing was changed.", 5)
    sync_run(world.acme, "skipped", "Another sync of this customer is running.")
    for path in ("/", "/m365/"):
        section = attention(html(alice_client, path))
        assert "The last synchronization failed." in section, path
        assert "GraphError: the tenant answered 503. Nothing was changed." in section
        assert f'href="/sync/history/{run.id}"' in section and 'action="/sync/now"' in section
    sync_run(world.acme, "succeeded")
    assert attention(html(alice_client)) == ""


def test_a_connection_that_needs_reauth_is_the_one_problem_of_a_failed_sync(world, connected):
    sync_run(world.acme, "failed", "invalid_grant")
    assert [p.kind for p in problems(world.acme)] == [SYNC_FAILED]
    m365_connection.mark_reauth_required(connected, "invalid_grant")
    hold_removal(world.acme.id, "held@acme.example")
    assert [p.kind for p in problems(world.acme)] == [REAUTH_REQUIRED, HELD_DELETIONS]


def test_nothing_to_do_shows_no_attention_section(alice_client, world, connected):
    sync_run(world.acme, "succeeded")
    assert "Needs your attention" not in html(alice_client)
    assert "Needs your attention" not in html(alice_client, "/m365/")


def test_problems_needs_no_request_and_at_most_four_queries_per_customer(app, world, connected):
    m365_connection.mark_reauth_required(connected, "token revoked")
    hold_removal(world.acme.id, "held@acme.example")
    db.session.expire_all()
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        for customer in (world.acme, world.globex, world.initech):
            found = problems(customer)
            assert len(statements) <= 4, statements
            statements.clear()
            assert customer != world.acme or [p.kind for p in found] == [REAUTH_REQUIRED, HELD_DELETIONS]
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)

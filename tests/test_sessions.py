"""Server-side sessions: the cookie only names an admin_session row, and the row decides.

Sign-out, disabling, a new password and idle expiry delete rows, so a copy of the cookie taken
before stops working; activity is written at most once a minute."""

import hashlib
from datetime import timedelta

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AdminSession, utcnow
from tests.conftest import PASSWORD
from tests.factories import sign_in


def sessions_of(admin):
    return db.session.scalar(
        select(func.count()).select_from(AdminSession).where(AdminSession.admin_id == admin.id)
    )


def cookie_of(client):
    return client.get_cookie("session").value


def browser_with_cookie(app, value):
    """Another browser that replays a captured session cookie."""
    other = app.test_client()
    other.set_cookie("session", value, domain="localhost")
    return other


def move_last_seen(admin, by):
    db.session.expire_all()
    for row in db.session.scalars(select(AdminSession).where(AdminSession.admin_id == admin.id)):
        row.last_seen_at = row.last_seen_at - by
    db.session.commit()


def test_cookie_captured_before_sign_out_stops_working(app, client, world):
    assert sign_in(client, "alice@acme.example").status_code == 302
    captured = cookie_of(client)
    assert browser_with_cookie(app, captured).get("/").status_code == 200
    client.post("/logout")
    assert sessions_of(world.alice) == 0
    replay = browser_with_cookie(app, captured).get("/")
    assert replay.status_code == 302 and replay.headers["Location"].startswith("/login")


def test_cookie_carries_a_random_token_the_server_keeps_only_hashed(app, client, world):
    sign_in(client, "alice@acme.example")
    data = app.session_interface.get_signing_serializer(app).loads(cookie_of(client))
    token = data["_user_id"]
    assert len(token) >= 43 and str(world.alice.id) != token  # 256 random bits, no account id
    row = db.session.scalar(select(AdminSession).where(AdminSession.admin_id == world.alice.id))
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() != token


def test_each_sign_in_is_its_own_session_and_signing_out_ends_only_that_one(app, world):
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, "alice@acme.example")
    sign_in(phone, "alice@acme.example")
    assert sessions_of(world.alice) == 2
    laptop.post("/logout")
    assert laptop.get("/").status_code == 302
    assert phone.get("/").status_code == 200


def test_disabling_ends_every_session_of_the_account_and_no_other(app, rita_client, world):
    bob_laptop = app.test_client().sign_in_as(world.bob)
    bob_phone = app.test_client().sign_in_as(world.bob)
    alice = app.test_client().sign_in_as(world.alice)
    rita_client.post(f"/admin/accounts/{world.bob.id}/disable")
    assert sessions_of(world.bob) == 0
    assert bob_laptop.get("/").status_code == 302 and bob_phone.get("/").status_code == 302
    assert alice.get("/").status_code == 200


def test_own_password_change_keeps_this_browser_with_a_new_session_and_ends_the_others(
    app, rita_client, world
):
    other = app.test_client().sign_in_as(world.rita)
    before = cookie_of(rita_client)
    rita_client.post(
        f"/admin/accounts/{world.rita.id}/password",
        data={"current_password": PASSWORD, "password": "brand-new-pass", "confirm": "brand-new-pass"},
    )
    assert rita_client.get("/").status_code == 200
    assert other.get("/").status_code == 302
    assert browser_with_cookie(app, before).get("/").status_code == 302  # the old token is gone too
    assert sessions_of(world.rita) == 1


def test_idle_session_is_ended_on_the_server(app, alice_client, world):
    captured = cookie_of(alice_client)
    move_last_seen(world.alice, timedelta(minutes=31))
    response = alice_client.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert "Your session expired. Please sign in again." in alice_client.get("/login").get_data(as_text=True)
    assert sessions_of(world.alice) == 0
    assert browser_with_cookie(app, captured).get("/").status_code == 302


def test_a_busy_session_still_ends_session_max_hours_after_its_sign_in(app, alice_client, world):
    """A session used every minute (never idle) ends 12 hours after it started all the same."""
    db.session.expire_all()
    for row in db.session.scalars(select(AdminSession).where(AdminSession.admin_id == world.alice.id)):
        row.created_at -= timedelta(hours=11, minutes=59)
    db.session.commit()
    assert alice_client.get("/").status_code == 200
    db.session.expire_all()
    for row in db.session.scalars(select(AdminSession).where(AdminSession.admin_id == world.alice.id)):
        row.created_at -= timedelta(minutes=2)
    db.session.commit()
    response = alice_client.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert "Your session expired. Please sign in again." in alice_client.get("/login").text
    assert sessions_of(world.alice) == 0


def test_idle_session_on_htmx_request_gets_hx_redirect(alice_client, world):
    move_last_seen(world.alice, timedelta(minutes=31))
    response = alice_client.get("/customers/search?q=a", headers={"HX-Request": "true"})
    assert response.status_code == 401 and response.headers["HX-Redirect"].startswith("/login")


def test_activity_is_noted_at_most_once_a_minute_and_keeps_the_session_alive(alice_client, world):
    def last_seen():
        db.session.expire_all()
        return db.session.scalar(
            select(AdminSession.last_seen_at).where(AdminSession.admin_id == world.alice.id)
        )

    move_last_seen(world.alice, timedelta(seconds=30))
    before = last_seen()
    assert alice_client.get("/").status_code == 200
    assert last_seen() == before  # less than a minute ago: no write
    move_last_seen(world.alice, timedelta(minutes=29))
    assert alice_client.get("/").status_code == 200
    assert utcnow() - last_seen() < timedelta(seconds=5)  # noted: the idle clock starts again


def test_sign_in_purges_sessions_that_went_idle(app, client, world):
    app.test_client().sign_in_as(world.bob)
    move_last_seen(world.bob, timedelta(hours=3))
    sign_in(client, "alice@acme.example")
    assert sessions_of(world.bob) == 0 and sessions_of(world.alice) == 1


def test_made_up_token_in_a_signed_cookie_is_not_a_session(app, world):
    forged = app.test_client()
    with forged.session_transaction() as session:
        session["_user_id"] = "x" * 43
    response = forged.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_deleting_an_account_deletes_its_sessions(app, world):
    app.test_client().sign_in_as(world.bob)
    db.session.delete(world.bob)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(AdminSession)) == 0


def test_microsofts_callback_without_a_session_never_puts_its_code_into_the_sign_in_url(client, world):
    response = client.get("/m365/callback?code=SECRET-AUTH-CODE&state=abc&session_state=x")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert "SECRET-AUTH-CODE" not in response.headers["Location"]
    assert "SECRET-AUTH-CODE" not in client.get("/login").text

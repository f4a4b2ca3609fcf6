"""Sign-in, sign-out, idle expiry, htmx-aware redirects and where sign-in may lead."""

import re
from urllib.parse import quote

import pytest
from argon2 import PasswordHasher

from portal.extensions import db
from portal.models import accounts
from tests.conftest import PASSWORD
from tests.factories import sign_in


def test_sign_in_with_right_password_lands_on_overview(client, world):
    response = sign_in(client, "ALICE@acme.example")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    page = client.get("/").get_data(as_text=True)
    assert "Acme GmbH" in page


def test_wrong_password_and_unknown_account_get_the_same_message(client, world):
    wrong = sign_in(client, "alice@acme.example", "nope-nope-nope").get_data(as_text=True)
    unknown = sign_in(client, "nobody@acme.example", "nope-nope-nope").get_data(as_text=True)
    message = "Email or password is not correct."
    assert message in wrong and message in unknown


def test_disabled_account_cannot_sign_in_and_loses_its_sessions(app, client, world):
    signed_in = app.test_client().sign_in_as(world.alice)
    assert signed_in.get("/").status_code == 200
    world.alice.is_enabled = False
    world.alice.end_sessions()
    db.session.commit()
    assert signed_in.get("/").status_code == 302
    assert "Email or password is not correct." in sign_in(client, "alice@acme.example").get_data(as_text=True)


class CountingHasher(PasswordHasher):
    """argon2's hasher at the suite's parameters, noting which hashes it verified (the check still runs)."""

    def __init__(self):
        p = accounts._hasher._parameters
        super().__init__(p.time_cost, p.memory_cost, p.parallelism, p.hash_len, p.salt_len, type=p.type)
        self.verified = []

    def verify(self, hash, password):
        self.verified.append(hash)
        return super().verify(hash, password)


def _without_tokens(html, email):
    """The page with the email typed and the (time-stamped) CSRF tokens blanked out."""
    html = re.sub(r'"X-CSRFToken": "[^"]*"', '"X-CSRFToken": ""', html.replace(email, "EMAIL"))
    return re.sub(r'name="csrf_token" type="hidden" value="[^"]*"', 'name="csrf_token"', html)


def test_disabled_account_runs_the_password_check_and_answers_like_a_wrong_password(
    client, world, monkeypatch
):
    hasher = CountingHasher()
    monkeypatch.setattr(accounts, "_hasher", hasher)
    world.alice.is_enabled = False
    db.session.commit()
    disabled = sign_in(client, "alice@acme.example", PASSWORD)  # the right password, disabled
    assert hasher.verified == [world.alice.password_hash]
    wrong = sign_in(client, "bob@globex.example", "wrong-password")  # enabled, wrong password
    assert len(hasher.verified) == 2
    assert disabled.status_code == wrong.status_code == 200
    assert _without_tokens(disabled.get_data(as_text=True), "alice@acme.example") == _without_tokens(
        wrong.get_data(as_text=True), "bob@globex.example"
    )
    assert "Email or password is not correct." in disabled.get_data(as_text=True)


# What browsers turn into "//evil.example" (another site), or what is another site already.
HOSTILE_NEXT = [
    "//evil.example/x",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "\t//evil.example",
    " //evil.example",
    "/\x00/evil.example",
    "/\x0b/evil.example",
    "/\u3000/evil.example",
    "/%09/evil.example",
    "/%5C%5Cevil.example",
    "/%2F/evil.example",
    "https://evil.example/",
    "http:evil.example",
    "javascript:alert(1)",
    "evil.example",
    "",
]


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_sign_in_next_leads_only_to_a_path_of_the_portal(client, world, target):
    response = client.post(
        f"/login?next={quote(target, safe='')}", data={"email": "alice@acme.example", "password": PASSWORD}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/"


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_customer_switch_next_leads_only_to_a_path_of_the_portal(rita_client, world, target):
    response = rita_client.post("/switch-customer", data={"customer_id": world.globex.id, "next": target})
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_local_next_targets_are_kept_on_sign_in_and_switch(client, rita_client, world):
    target = "/contacts/?q=M%C3%BCller&sort=-email"
    response = client.post(
        f"/login?next={quote(target, safe='')}", data={"email": "alice@acme.example", "password": PASSWORD}
    )
    assert response.headers["Location"] == target
    response = rita_client.post("/switch-customer", data={"customer_id": world.globex.id, "next": target})
    assert response.headers["Location"] == target


def test_sign_out_ends_the_session(alice_client):
    response = alice_client.post("/logout")
    assert response.headers["Location"] == "/login"
    assert alice_client.get("/").status_code == 302


def test_expired_session_on_htmx_request_gets_hx_redirect(client, world):
    response = client.get("/customers/search?q=a", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login")


def test_anonymous_page_request_redirects_to_sign_in_with_next(client):
    response = client.get("/customers/search?q=x")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_logout_without_csrf_token_is_refused(alice_client):
    assert alice_client.post("/logout", csrf=False).status_code == 400


def test_session_cookie_is_httponly_and_lax(client, world):
    response = sign_in(client, "alice@acme.example")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_the_dummy_hash_for_unknown_accounts_costs_what_a_real_one_does(production_argon2):
    assert not accounts._hasher.check_needs_rehash(accounts._DUMMY_HASH)  # the same work to verify
    assert accounts._dummy_hash() == accounts._DUMMY_HASH

"""htmx answers: fragment or page (Vary, history restore), 286 poll answers, HX-Redirect, progress bars."""

import pathlib
import re

import pytest

from portal import health, htmx
from portal.extensions import db
from portal.models import Job, utcnow
from tests.factories import text

HX = {"HX-Request": "true"}
RESTORE = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
TEMPLATES = pathlib.Path(__file__).resolve().parents[1] / "templates"


def add_job(customer, kind, status="queued", done=0, total=None):
    job = Job(
        kind=kind,
        customer_id=customer.id,
        params={},
        result={},
        error="",
        status=status,
        progress_done=done,
        progress_total=total,
        finished_at=utcnow() if status in ("succeeded", "failed") else None,
    )
    db.session.add(job)
    db.session.commit()
    return job


LISTS = ["/contacts/", "/sync/history", "/notifications/"]


@pytest.mark.parametrize("url", LISTS)
def test_page_and_fragment_views_vary_on_hx_request(alice_client, url):
    page = alice_client.get(url)
    fragment = alice_client.get(url, headers=HX)
    assert page.status_code == fragment.status_code == 200
    assert "<html" in text(page) and "<html" not in text(fragment)
    assert "HX-Request" in page.headers["Vary"] and "HX-Request" in fragment.headers["Vary"]


@pytest.mark.parametrize("url", ["/admin/accounts", "/admin/customers"])
def test_admin_lists_vary_on_hx_request(rita_client, url):
    fragment = rita_client.get(url, headers=HX)
    assert "<html" not in text(fragment) and "HX-Request" in fragment.headers["Vary"]


@pytest.mark.parametrize("url", LISTS)
def test_history_restore_gets_the_full_page(alice_client, url):
    response = alice_client.get(url, headers=RESTORE)
    assert "<html" in text(response) and "HX-Request" in response.headers["Vary"]


def test_error_page_is_a_fragment_for_htmx_and_a_page_after_history_restore(alice_client):
    fragment = alice_client.get("/contacts/999999", headers=HX)
    assert fragment.status_code == 404 and "<html" not in text(fragment)
    assert "HX-Request" in fragment.headers["Vary"]
    restored = alice_client.get("/contacts/999999", headers=RESTORE)
    assert restored.status_code == 404 and "<html" in text(restored)


def test_sync_status_poll_answers_286_without_a_job(alice_client, world):
    assert alice_client.get("/sync/status", headers=HX).status_code == 286


def test_running_sync_polls_on_with_200_and_a_labelled_progress_bar(alice_client, world):
    health.beat("runner-a")  # the runner running it is alive (else the poll slows down and says so)
    add_job(world.acme, "m365_sync", status="running", done=1, total=4)
    response = alice_client.get("/sync/status", headers=HX)
    assert response.status_code == 200
    bar = re.search(r'<div class="progress" role="progressbar"[^>]*>', text(response)).group(0)
    assert 'aria-valuenow="25"' in bar and 'aria-valuemin="0"' in bar and 'aria-valuemax="100"' in bar
    assert 'aria-label="' in bar
    assert 'hx-trigger="every 1s"' in text(response)


def test_finished_sync_answers_286_and_refreshes_the_history(alice_client, world):
    add_job(world.acme, "m365_sync", status="succeeded")
    response = alice_client.get("/sync/status", headers=HX)
    assert response.status_code == 286
    assert "The synchronization has finished." in text(response) and 'hx-get="/sync/history"' in text(
        response
    )


def test_history_page_shows_a_finished_sync_without_announcing_it(alice_client, world):
    """The "finished" notice (and its history refresh) belongs to the poll's last answer only."""
    add_job(world.acme, "m365_sync", status="succeeded")
    response = alice_client.get("/sync/history")
    assert response.status_code == 200
    html = text(response)
    assert "<h1>Sync history</h1>" in html and '<div id="sync-status">' in html  # the page, rendered
    assert 'hx-get="/sync/history"' not in html  # no history refresh either
    assert "The synchronization has finished." not in html


def test_automatic_progress_polls_while_groups_load_and_stops_after(alice_client, world):
    job = add_job(world.acme, "m365_groups_load", status="running", done=3, total=10)
    running = alice_client.get("/m365/automatic/progress", headers=HX)
    assert running.status_code == 200 and 'aria-valuenow="30"' in text(running)
    job.status, job.finished_at = "succeeded", utcnow()
    db.session.commit()
    done = alice_client.get("/m365/automatic/progress", headers=HX)
    assert done.status_code == 286
    assert 'hx-get="/m365/automatic/"' in text(done)  # the last answer shows the fresh group list once


def test_sessionless_htmx_request_answers_401_with_hx_redirect_to_sign_in(client, world):
    response = client.get("/contacts/", headers=HX)
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login")
    assert text(response) == ""


def test_sessionless_page_request_is_redirected_to_sign_in_with_next(client, world):
    response = client.get("/contacts/?q=anna")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_refused_account_change_over_htmx_answers_hx_redirect(rita_client, world):
    response = rita_client.post(f"/admin/accounts/{world.rita.id}/disable", headers=HX)
    assert response.status_code == 204 and response.headers["HX-Redirect"] == "/admin/accounts"


def test_helper_reads_the_headers(app):
    with app.test_request_context(headers=HX):
        assert htmx.is_htmx()
        answer = htmx.redirect("/somewhere")
        assert answer.status_code == 204 and answer.headers["HX-Redirect"] == "/somewhere"
    with app.test_request_context(headers=RESTORE):
        assert not htmx.is_htmx()
    with app.test_request_context():
        assert not htmx.is_htmx()
        answer = htmx.redirect("/somewhere")
        assert answer.status_code == 302 and answer.headers["Location"] == "/somewhere"


def test_partials_take_their_flags_from_the_view_not_the_endpoint():
    partials = [p for p in TEMPLATES.rglob("_*.html") if p.name != "_nav.html"]
    assert partials
    assert [str(p) for p in partials if "request.endpoint" in p.read_text()] == []


def test_forms_use_the_csrf_macro():
    by_hand = [
        str(p)
        for p in TEMPLATES.rglob("*.html")
        if p.name != "_ui.html" and 'name="csrf_token" value="{{ csrf_token() }}"' in p.read_text()
    ]
    assert by_hand == []


def test_progress_bars_use_the_macro():
    by_hand = [
        str(p)
        for p in TEMPLATES.rglob("*.html")
        if p.name != "_ui.html" and 'class="progress"' in p.read_text()
    ]
    assert by_hand == []


def test_active_searches_use_the_macro():
    by_hand = [
        str(p)
        for p in TEMPLATES.rglob("*.html")
        if p.name != "_forms.html" and "delay:300ms" in p.read_text()
    ]
    assert by_hand == []


def test_every_list_pager_comes_from_the_macros():
    by_hand = [
        str(p)
        for p in TEMPLATES.rglob("*.html")
        if p.name != "_ui.html" and ("page + 1" in p.read_text() or 'class="pagination"' in p.read_text())
    ]
    assert by_hand == []

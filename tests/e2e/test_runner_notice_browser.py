"""Issue 11 in a real browser: a queued sync while no runner runs says why nothing moves, and the
notice goes once a runner beats again (the poll keeps going, only slower)."""

from datetime import timedelta

import pytest

from portal import health, queue
from portal.extensions import db
from portal.models import JobKind
from portal.models.base import utcnow
from tests.conftest import PASSWORD
from tests.e2e.conftest import expect, screenshot, sign_in

pytestmark = pytest.mark.e2e


def test_queued_sync_says_the_runner_is_down_until_it_beats_again(page, world):
    health.beat("runner-a", now=utcnow() - timedelta(hours=2))
    queue.enqueue(JobKind.SYNC, world.acme)
    db.session.commit()
    sign_in(page, world.olga.email, PASSWORD)
    page.goto("/sync/history")
    status = page.locator("#sync-status")
    expect(status).to_contain_text("The background runner is not running (last seen 2 hours ago).")
    expect(status.get_by_role("status")).to_contain_text("Start it with:")
    expect(status).to_contain_text("The synchronization is queued.")
    screenshot(page, "runner-not-running")
    health.beat("runner-a", now=utcnow())
    expect(status).not_to_contain_text("The background runner is not running", timeout=15_000)
    expect(status).to_contain_text("The synchronization is queued and starts within seconds.")

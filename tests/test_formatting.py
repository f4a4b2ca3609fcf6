"""Dates, numbers and durations in the reader's language: the portal's quick `datetime` filter says
exactly what flask_babel says; German pages write 1.234 and "2 Min." (issue 21)."""

from datetime import datetime, timedelta

import pytest
from flask_babel import force_locale, format_datetime

from portal import create_app
from portal.extensions import db
from portal.formatting import NAMED_FORMATS, datetime_formatter, format_duration
from portal.models import Job, JobKind, SyncRun
from portal.models.base import utcnow
from portal.sync import directory
from tests.conftest import make_test_config
from tests.factories import manual_acme, text

GERMAN = {"Accept-Language": "de-DE,de;q=0.9"}

MOMENTS = [
    datetime(2026, 3, 29, 0, 30),  # the night the clocks go forward in Europe
    datetime(2026, 10, 25, 0, 59, 59),
    datetime(2026, 12, 31, 23, 59, 59),
    datetime(2027, 1, 1, 0, 0),
    datetime(2026, 7, 4, 12, 5, 9),
]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/New_York"])
def test_the_quick_formatter_says_what_babel_says(zone):
    app = create_app(make_test_config(BABEL_DEFAULT_TIMEZONE=zone))
    for locale in ("en", "de"):
        with app.test_request_context(), force_locale(locale):
            for fmt in (*NAMED_FORMATS, "yyyy-MM-dd HH:mm"):
                formatted = datetime_formatter(fmt)
                for moment in MOMENTS:
                    assert formatted(moment) == format_datetime(moment, fmt), (locale, fmt, moment)
                assert formatted(None) == "—"


def test_the_contact_list_shows_dates_in_the_readers_language(app):
    with app.test_request_context():
        with force_locale("de"):
            assert datetime_formatter("short")(datetime(2026, 12, 4, 16, 5)) == "04.12.26, 16:05"
        with force_locale("en"):
            assert datetime_formatter("short")(datetime(2026, 12, 4, 16, 5)).startswith("12/4/26, 4:05")


def test_durations_are_written_as_the_readers_language_writes_them(app):
    with app.test_request_context():
        with force_locale("de"):
            assert [format_duration(s) for s in (2.5, 0.04, 130, 4000)] == [
                "2,5 Sek.",
                "0,0 Sek.",
                "2 Min.",
                "1 Std.",
            ]
        with force_locale("en"):
            assert [format_duration(s) for s in (2.5, 130)] == ["2.5 sec", "2 min"]
        assert format_duration(None) == "—"


def _german_alice(app, world):
    world.alice.language = "de"
    db.session.commit()
    return app.test_client().sign_in_as(world.alice)


def test_sync_history_in_german_writes_durations_and_counts_the_german_way(app, world):
    manual_acme(world)
    started = utcnow() - timedelta(minutes=5)
    run = SyncRun(
        customer_id=world.acme.id,
        status="succeeded",
        started_at=started,
        finished_at=started + timedelta(seconds=130),
        graph_requests=1234,
    )
    db.session.add(run)
    db.session.commit()
    client = _german_alice(app, world)
    history = text(client.get("/sync/history", headers=GERMAN))
    assert "2 Min." in history and "1.234" in history and "130.0 s" not in history
    assert "2 Min." in text(client.get(f"/sync/history/{run.id}", headers=GERMAN))


def test_manual_mode_in_german_counts_loaded_and_importable_users_with_a_thousands_dot(app, world):
    manual_acme(world)
    people = [
        {"id": f"u{i}", "displayName": f"User {i}", "mail": f"u{i}@acme.example", "accountEnabled": True}
        for i in range(1234)
    ]
    directory.store(world.acme, people, [])
    db.session.add(
        Job(
            kind=JobKind.DIRECTORY_LOAD,
            customer_id=world.acme.id,
            params={},
            status="succeeded",
            finished_at=utcnow(),
        )
    )
    db.session.commit()
    page = text(_german_alice(app, world).get("/m365/manual/", headers=GERMAN))
    assert "1.234 Benutzer geladen" in page and "1.234 Benutzer importieren" in page

"""Dates in lists: the portal's quick `datetime` filter says exactly what flask_babel says."""

from datetime import datetime

import pytest
from flask_babel import force_locale, format_datetime

from portal import create_app
from portal.formatting import NAMED_FORMATS, datetime_formatter
from tests.conftest import make_test_config

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

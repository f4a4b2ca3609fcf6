"""Dates in lists: the portal's quick `datetime` filter says exactly what flask_babel says."""

from datetime import datetime

import pytest
from flask_babel import force_locale, format_datetime

from portal.formatting import NAMED_FORMATS, local_datetime

MOMENTS = [
    datetime(2026, 3, 29, 0, 30),  # the night the clocks go forward in Europe
    datetime(2026, 10, 25, 0, 59, 59),
    datetime(2026, 12, 31, 23, 59, 59),
    datetime(2027, 1, 1, 0, 0),
    datetime(2026, 7, 4, 12, 5, 9),
]


@pytest.mark.parametrize("locale", ["en", "de"])
@pytest.mark.parametrize("fmt", [*NAMED_FORMATS, "yyyy-MM-dd HH:mm"])
def test_the_quick_filter_says_what_babel_says(app, locale, fmt):
    with app.test_request_context(), force_locale(locale):
        for moment in MOMENTS:
            assert local_datetime(moment, fmt) == format_datetime(moment, fmt)


def test_the_contact_list_shows_dates_in_the_readers_language(app):
    with app.test_request_context():
        with force_locale("de"):
            assert local_datetime(datetime(2026, 12, 4, 16, 5), "short") == "04.12.26, 16:05"
        with force_locale("en"):
            assert local_datetime(datetime(2026, 12, 4, 16, 5), "short").startswith("12/4/26, 4:05")

"""Template filters and globals: locale-aware dates and numbers, the nav's working customer."""

from functools import lru_cache
from urllib.parse import urlsplit

from babel import dates
from flask_babel import (
    format_date,
    format_datetime,
    format_decimal,
    format_timedelta,
    get_locale,
    to_user_timezone,
)
from flask_login import current_user

from portal.auth import access
from portal.models import JobKind
from portal.models.base import utcnow


def init_app(app):
    app.jinja_env.globals["JobKind"] = JobKind

    @app.template_filter("datetime")
    def _datetime(value, fmt="medium"):
        return local_datetime(value, fmt) if value else "—"

    @app.template_filter("date")
    def _date(value, fmt="medium"):
        return format_date(value, fmt) if value else "—"

    @app.template_filter("number")
    def _number(value):
        return format_decimal(value or 0)

    @app.template_filter("ago")
    def _ago(value):
        """How long before now `value` was, in words ("2 hours ago")."""
        return format_timedelta(value - utcnow(), add_direction=True) if value else "—"

    @app.template_filter("url_path")
    def _url_path(url):
        """Only the path and query of a URL (used for 'come back here' links)."""
        parts = urlsplit(url or "/")
        return parts.path + (f"?{parts.query}" if parts.query else "") or "/"

    @app.context_processor
    def _globals():
        def current_customer_for_nav():
            return access.current_customer(required=False) if current_user.is_authenticated else None

        return {"current_customer_for_nav": current_customer_for_nav}


NAMED_FORMATS = ("short", "medium", "long", "full")


def local_datetime(value, fmt="medium"):
    """`value` (naive UTC) in the viewer's time zone and locale: what flask_babel's format_datetime
    gives, at a fraction of its cost for the named formats (a list shows dozens of dates per page)."""
    if fmt not in NAMED_FORMATS:
        return format_datetime(value, fmt)
    locale = get_locale()
    return _datetime_pattern(locale, fmt).apply(to_user_timezone(value), locale)


@lru_cache(maxsize=32)
def _datetime_pattern(locale, fmt):
    """The locale's date-and-time pattern for a named format as one parsed pattern: babel formats
    the date and the time apart and joins them on every call; joining the patterns once is the same."""
    joined = dates.get_datetime_format(fmt, locale=locale)
    time_pattern = dates.get_time_format(fmt, locale=locale).pattern
    date_pattern = dates.get_date_format(fmt, locale=locale).pattern
    return dates.parse_pattern(joined.replace("{0}", time_pattern).replace("{1}", date_pattern))

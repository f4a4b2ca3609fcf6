"""Template filters and globals: locale-aware dates and numbers, the nav's working customer, the sync's
vocabulary (portal.models.vocabulary) and its labels."""

from datetime import UTC, timedelta
from functools import lru_cache
from urllib.parse import urlsplit

from babel import dates, units
from flask_babel import (
    format_date,
    format_datetime,
    format_decimal,
    format_timedelta,
    get_locale,
    get_timezone,
)
from flask_login import current_user

from portal.auth import access
from portal.models import JobKind
from portal.models.base import utcnow
from portal.models.vocabulary import ChangeKind, RemovalReason, RunKind, SkipReason, reason_label


def init_app(app):
    app.jinja_env.globals["JobKind"] = JobKind
    app.jinja_env.globals["datetime_formatter"] = datetime_formatter
    for vocabulary in (ChangeKind, RunKind, RemovalReason, SkipReason):
        app.jinja_env.globals[vocabulary.__name__] = vocabulary

    @app.template_filter("label")
    def _label(value, vocabulary):
        """A stored value's label: `{{ run.kind|label(RunKind) }}`."""
        return vocabulary.label_of(value)

    @app.template_filter("reason_label")
    def _reason_label(reason, kind):
        """The label of the reason (or note) a change of `kind` records."""
        return reason_label(reason, kind)

    @app.template_filter("datetime")
    def _datetime(value, fmt="medium"):
        return datetime_formatter(fmt)(value)

    @app.template_filter("date")
    def _date(value, fmt="medium"):
        return format_date(value, fmt) if value else "—"

    @app.template_filter("number")
    def _number(value):
        return format_decimal(value or 0)

    @app.template_filter("duration")
    def _duration(seconds):
        """A run's length in the reader's language ("2.5 sec", "2,5 Sek.", "2 Min.")."""
        return format_duration(seconds)

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


def format_duration(seconds):
    """A duration in seconds (or None: "—") as the viewer's locale writes it: tenths of a second
    below a minute ("2,5 Sek."), then rounded to the largest unit ("2 Min.", "1 Std.")."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return units.format_unit(
            seconds, "duration-second", length="short", format="#,##0.0", locale=get_locale()
        )
    return dates.format_timedelta(
        timedelta(seconds=seconds), format="short", threshold=1, locale=get_locale()
    )


NAMED_FORMATS = ("short", "medium", "long", "full")


def datetime_formatter(fmt="medium"):
    """A function that says a naive-UTC datetime (or None: "—") in the viewer's time zone and
    locale, as flask_babel's format_datetime does. A list makes one for all its rows: the locale,
    the zone and, for the named formats, one parsed pattern are looked up once, not per value."""
    if fmt not in NAMED_FORMATS:
        return lambda value: format_datetime(value, fmt) if value else "—"
    locale, zone = get_locale(), get_timezone()
    pattern = _datetime_pattern(locale, fmt)

    def formatted(value):
        if not value:
            return "—"
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return pattern.apply(zone.normalize(aware.astimezone(zone)), locale)

    return formatted


@lru_cache(maxsize=32)
def _datetime_pattern(locale, fmt):
    """The locale's date-and-time pattern for a named format as one parsed pattern: babel formats
    the date and the time apart and joins them on every call; joining the patterns once is the same."""
    joined = dates.get_datetime_format(fmt, locale=locale)
    time_pattern = dates.get_time_format(fmt, locale=locale).pattern
    date_pattern = dates.get_date_format(fmt, locale=locale).pattern
    return dates.parse_pattern(joined.replace("{0}", time_pattern).replace("{1}", date_pattern))

"""Template filters and globals: locale-aware dates and numbers, the nav's working customer."""

from urllib.parse import urlsplit

from flask_babel import format_date, format_datetime, format_decimal, format_timedelta
from flask_login import current_user

from portal.auth import access
from portal.models import JobKind
from portal.models.base import utcnow


def init_app(app):
    app.jinja_env.globals["JobKind"] = JobKind

    @app.template_filter("datetime")
    def _datetime(value, fmt="medium"):
        return format_datetime(value, fmt) if value else "—"

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

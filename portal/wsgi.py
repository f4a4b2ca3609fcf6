"""WSGI entry point of an installed portal: `gunicorn portal.wsgi:app`, `flask --app portal.wsgi ...`."""

from portal import create_app

app = create_app()

"""WSGI entry point of a checkout: `flask --app wsgi ...` (an installation uses portal.wsgi)."""

from portal import create_app

app = create_app()

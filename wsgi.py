"""The WSGI entry point: `flask --app wsgi ...` in a checkout, `gunicorn wsgi:app`.

An installed wheel has no top-level module: its units run `flask --app portal` and
`gunicorn 'portal:create_app()'`, the same factory."""

from portal import create_app

app = create_app()

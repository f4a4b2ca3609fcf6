"""The contact book ("Employee contacts"): contacts, contact groups, CSV import and export.

One blueprint for the area, made here; the view modules add their routes to it and are imported at
the end, so they never import each other: routes.py (list, detail, create, edit, delete, export),
removed_views.py (removed contacts and "Restore"),
group_views.py (contact groups), smart_views.py (smart groups' rules), csv_views.py (CSV import).
Every view works on
`access.current_customer()`; other customers' ids answer 404.
"""

from flask import Blueprint

bp = Blueprint("contacts", __name__, url_prefix="/contacts")

from portal.contacts import csv_views, group_views, removed_views, routes, smart_views  # noqa: E402,F401  (views on bp)

"""Fragment or page: what the contact book's views answer to an htmx swap and to a full load."""
from flask import current_app, render_template, request


def wants_fragment():
    """True for an htmx swap; a history restore (reload after back) needs the whole page."""
    return bool(request.headers.get("HX-Request")) and not request.headers.get("HX-History-Restore-Request")


def page_or_fragment(page_template, fragment_template, **context):
    """Render the fragment for htmx requests and the page otherwise; caches must tell them apart."""
    template = fragment_template if wants_fragment() else page_template
    response = current_app.make_response(render_template(template, **context))
    response.vary.add("HX-Request")
    return response

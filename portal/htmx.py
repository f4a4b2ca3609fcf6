"""The one place that reads htmx's request headers and builds htmx answers.

Views ask `is_htmx()` instead of reading `HX-Request`, answer pages with `render()` (the fragment
for an htmx swap, the page otherwise), polled progress with `poll()` and "go elsewhere" with
`redirect()`.

A history restore (htmx reloading a page after "back" when its snapshot is gone) sends
`HX-Request` too, but swaps the answer into the whole body: it is answered like a browser request.
"""

from flask import make_response, render_template, request
from flask import redirect as http_redirect

STOP_POLLING = 286  # htmx stops an `hx-trigger="every …"` poll on this status


def is_htmx():
    """True when htmx asks for a fragment to swap (a history restore wants the whole page)."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def render(page_template, fragment_template, **context):
    """The fragment for an htmx swap, the full page otherwise; caches keep the two apart (Vary)."""
    template = fragment_template if is_htmx() else page_template
    response = make_response(render_template(template, **context))
    response.vary.add("HX-Request")
    return response


def poll(done, template, **context):
    """One answer to a progress poll: 286 once `done` (htmx stops polling), 200 while running."""
    response = make_response(render_template(template, **context))
    response.status_code = STOP_POLLING if done else 200
    return response


def redirect(url, htmx_status=204):
    """Send the browser to `url`: `HX-Redirect` for htmx (a 302 would be followed by the XHR and
    its target swapped into the page), a plain redirect otherwise."""
    if is_htmx():
        response = make_response("", htmx_status)
        response.headers["HX-Redirect"] = url
        return response
    return http_redirect(url)

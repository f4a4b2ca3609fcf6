"""The one place that reads htmx's request headers and builds htmx answers.

Views ask `is_htmx()` instead of reading `HX-Request`, answer pages with `render()` (the fragment
for an htmx swap, the page otherwise), polled progress with `poll()` and "go elsewhere" with
`redirect()`.

While a polled job waits and no runner is alive, `poll()` adds `runner_down` (the runner's
health, for `runner_notice` in _ui.html) and slows the poll down (`poll_every`): the page says why
nothing moves, and picks up again when the runner is back.

A history restore (htmx reloading a page after "back" when its snapshot is gone) sends
`HX-Request` too, but swaps the answer into the whole body: it is answered like a browser request.
"""

from flask import make_response, render_template, request
from flask import redirect as http_redirect

from portal import health

STOP_POLLING = 286  # htmx stops an `hx-trigger="every …"` poll on this status
POLL_EVERY = "1s"  # how often a progress fragment asks again (`hx-trigger="every {{ poll_every }}"`)
POLL_EVERY_RUNNER_DOWN = "10s"  # ... while no runner is alive to make progress


def init_app(app):
    """Progress fragments poll every POLL_EVERY unless a poll answer says otherwise; every page that
    shows queued work says at once when no runner is alive (not only once a poll has fired)."""
    app.context_processor(lambda: {"poll_every": POLL_EVERY, "runner_down": RunnerDownOnFirstUse()})


class RunnerDownOnFirstUse:
    """`runner_down` for a page's first render: true when no runner is alive, with the runner's
    health as attributes. Asked only when a template looks (the pages that show queued work, the
    customer overview), so other pages cost no query; a poll answer passes its own."""

    def __init__(self):
        self._health = None

    def _runner(self):
        if self._health is None:
            self._health = health.runner_health()
        return self._health

    def __bool__(self):
        return not self._runner().alive

    def __getattr__(self, name):
        return getattr(self._runner(), name)


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
    """One answer to a progress poll: 286 once `done` (htmx stops polling), 200 while running —
    with the runner's health and a slower poll when no runner is alive to run the job."""
    if not done:
        runner = health.runner_health()
        if not runner.alive:
            context.update(runner_down=runner, poll_every=POLL_EVERY_RUNNER_DOWN)
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

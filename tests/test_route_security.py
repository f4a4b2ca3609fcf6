"""Every route: anonymous visitors are sent to sign-in, and state changes need a CSRF token."""

import pytest
from werkzeug.routing.converters import NumberConverter

from portal import create_app
from tests.conftest import make_test_config

PUBLIC = {"static", "auth.login", "probes.healthz", "probes.readyz"}  # probes: tests/test_probes.py
# /scim/v2 answers a bearer token, never a session: tests/test_scim_security.py checks its every route.
BEARER = "scim."


def _rules():
    app = create_app(make_test_config())
    rules = [
        r for r in app.url_map.iter_rules() if r.endpoint not in PUBLIC and not r.endpoint.startswith(BEARER)
    ]
    return sorted(rules, key=lambda r: r.rule)


def _url(rule):
    values = {}
    for name in rule.arguments:
        values[name] = 1 if isinstance(rule._converters[name], NumberConverter) else "x"
    return rule.build(values, append_unknown=False)[1]


ROUTES = [(r.rule, sorted(r.methods - {"HEAD", "OPTIONS"}), r) for r in _rules()]
POST_ROUTES = [(p, m, r) for p, m, r in ROUTES if set(m) & {"POST", "PUT", "PATCH", "DELETE"}]
# Signing out needs no session: without one it simply shows the sign-in page (a plain redirect).
POST_ROUTES_ANONYMOUS = [(p, m, r) for p, m, r in POST_ROUTES if r.endpoint != "auth.logout"]


@pytest.mark.parametrize("path,methods,rule", ROUTES, ids=[f"{m}:{p}" for p, m, _ in ROUTES])
def test_anonymous_visitor_is_sent_to_sign_in(client, path, methods, rule):
    url = _url(rule)
    for method in methods:
        # A state change carries a valid CSRF token (the client takes one from the sign-in page), so
        # the answer comes from the view's sign-in guard, not from the CSRF check (400) before it.
        response = client.open(url, method=method)
        assert response.status_code == 302, (method, url, response.status_code)
        assert response.headers["Location"].startswith("/login"), (method, url, response.headers["Location"])


@pytest.mark.parametrize(
    "path,methods,rule", POST_ROUTES_ANONYMOUS, ids=[f"{m}:{p}" for p, m, _ in POST_ROUTES_ANONYMOUS]
)
def test_anonymous_htmx_state_change_gets_hx_redirect_to_sign_in(client, path, methods, rule):
    url = _url(rule)
    for method in set(methods) - {"GET"}:
        response = client.open(url, method=method, headers={"HX-Request": "true"})
        assert response.status_code == 401, (method, url, response.status_code)
        assert response.headers["HX-Redirect"].startswith("/login")


@pytest.mark.parametrize("path,methods,rule", POST_ROUTES, ids=[f"{m}:{p}" for p, m, _ in POST_ROUTES])
def test_state_change_without_csrf_token_is_refused(alice_client, path, methods, rule):
    url = _url(rule)
    for method in set(methods) - {"GET"}:
        response = alice_client.open(url, method=method, csrf=False)
        assert response.status_code == 400, (method, url, response.status_code)


def test_htmx_request_without_session_gets_hx_redirect_on_every_get_route(client):
    for _path, methods, rule in ROUTES:
        if "GET" not in methods:
            continue
        response = client.get(_url(rule), headers={"HX-Request": "true"})
        assert response.status_code == 401, rule.rule
        assert response.headers["HX-Redirect"].startswith("/login")

"""Client-side helpers for the emulator tests: drive the sign-in page like a browser would and
talk OAuth with Authlib's requests client; follow delta rounds; submit the console's forms."""

import html
import re
import urllib.parse

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from m365_emulator.demo import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URIS

REDIRECT_URI = DEMO_REDIRECT_URIS[0]
SCOPE = "openid profile email offline_access User.Read.All GroupMember.Read.All"


def oauth_client(scope=SCOPE, client_id=DEMO_CLIENT_ID, secret=DEMO_CLIENT_SECRET, redirect_uri=REDIRECT_URI):
    """Authlib's requests OAuth2 client with PKCE S256 (Basic client auth, Authlib's default)."""
    return OAuth2Session(
        client_id, secret, scope=scope, redirect_uri=redirect_uri, code_challenge_method="S256"
    )


def authorize_url(emulator, client, tenant="organizations", **extra):
    """(authorize URL, state, code_verifier, nonce) for a fresh request."""
    verifier, nonce = generate_token(48), generate_token(20)
    url, state = client.create_authorization_url(
        f"{emulator.authority}/{tenant}/oauth2/v2.0/authorize", code_verifier=verifier, nonce=nonce, **extra
    )
    return url, state, verifier, nonce


def hidden_fields(html):
    """The hidden inputs of the sign-in form (the original query parameters)."""
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))


def submit(url, account, consent=True, action="accept"):
    """GET the sign-in page, then POST its form like a browser: returns the POST response."""
    page = requests.get(url, timeout=10)
    assert page.status_code == 200, page.text
    form = {k: _unescape(v) for k, v in hidden_fields(page.text).items()}
    form.update({"account": account, "action": action})
    if consent:
        form["consent"] = "on"
    return requests.post(url.split("?")[0], data=form, allow_redirects=False, timeout=10)


def _unescape(value):
    return (
        value.replace("&#34;", '"')
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
    )


def callback_params(response):
    """Query parameters of the redirect back to the app."""
    assert response.status_code == 302, response.text
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(response.headers["Location"]).query))


def sign_in(emulator, account=None, scope=SCOPE):
    """Full auth-code + PKCE sign-in; returns (client, token dict, nonce)."""
    client = oauth_client(scope)
    url, _, verifier, nonce = authorize_url(emulator, client)
    response = submit(url, account or emulator.admin_upn)
    token = client.fetch_token(
        f"{emulator.authority}/organizations/oauth2/v2.0/token",
        authorization_response=response.headers["Location"],
        code_verifier=verifier,
    )
    return client, token, nonce


def graph(emulator, path, token, headers=None, **params):
    """GET a Graph path with a bearer token (access token string or token dict)."""
    if isinstance(token, dict):
        token = token["access_token"]
    url = path if path.startswith("http") else f"{emulator.graph_url}{path}"
    return requests.get(
        url,
        params=params or None,
        timeout=30,
        headers={"Authorization": f"Bearer {token}", **(headers or {})},
    )


def run_round(emulator, token, url, headers=None):
    """Follow nextLinks to the deltaLink; returns (entries, deltaLink, pages)."""
    entries, pages = [], 0
    while True:
        response = graph(emulator, url, token, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        entries += body["value"]
        pages += 1
        if "@odata.deltaLink" in body:
            assert "@odata.nextLink" not in body
            return entries, body["@odata.deltaLink"], pages
        url = body["@odata.nextLink"]
        assert "$skiptoken=" in url


def console_forms(emulator, query):
    """The console page searched for `query`: {form action: {field: value}} of its POST forms."""
    page = requests.get(f"{emulator.base_url}/_emulator/", params={"q": query}, timeout=10)
    assert page.status_code == 200 and "<script" not in page.text
    forms = {}
    for action, body in re.findall(r'<form method="post" action="([^"]+)">(.*?)</form>', page.text, re.S):
        fields = re.findall(r'<input type="(?:hidden|text)" name="([^"]+)" value="([^"]*)"', body)
        forms[html.unescape(action)] = {k: html.unescape(v) for k, v in fields}
    return forms


def post_console_form(emulator, forms, suffix, **changes):
    """Submit the console form whose action ends with `suffix`, like a browser would."""
    action = next(a for a in forms if a.endswith(suffix))
    response = requests.post(
        f"{emulator.base_url}{action}", data={**forms[action], **changes}, allow_redirects=False, timeout=10
    )
    assert response.status_code == 303
    return response

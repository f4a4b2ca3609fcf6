"""The request boundary (issue 9): hostile input gets a clear answer, never a 500, and loses nothing.

Every case runs on SQLite and on PostgreSQL (TEST_DATABASE_URL); NUL bytes and ids of 2³¹ and more
only broke PostgreSQL, which cannot store a NUL in text and keeps ids in 32-bit INTEGER columns.
"""

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest
from flask import url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.routing import IntegerConverter
from wtforms.fields.core import UnboundField

import portal
from portal import boundary, create_app
from portal.config import ConfigError, from_environment
from portal.extensions import db
from portal.models import AdminUser, Contact, ContactGroup, Customer, Reseller
from tests.conftest import PASSWORD, make_test_config
from tests.factories import manual_acme, reload, text

NUL = "\x00"
HX = {"HX-Request": "true"}
GERMAN = {"Accept-Language": "de-DE,de;q=0.9"}
HUGE_IDS = (2**31, 2**63, 10**20)


def _rules(predicate):
    app = create_app(make_test_config())
    rules = [r for r in app.url_map.iter_rules() if r.endpoint != "static" and predicate(r)]
    return sorted(rules, key=lambda r: r.rule)


def _is_int(rule, name):
    return isinstance(rule._converters[name], IntegerConverter)


GET_RULES = _rules(lambda r: "GET" in r.methods)
POST_RULES = _rules(lambda r: "POST" in r.methods and r.endpoint != "auth.logout")
INT_RULES = _rules(lambda r: any(_is_int(r, name) for name in r.arguments))
TEXT_RULES = _rules(lambda r: any(not _is_int(r, name) for name in r.arguments))


# --- The names the sweeps send: discovered from the code, not kept by hand ----------------------------

PORTAL_DIR = Path(portal.__file__).resolve().parent
REQUEST_DATA = {"args", "values", "form"}  # request.<these> hold query and form values
# Read by a library, not by portal's code: Authlib's authorize_access_token reads the OAuth callback.
LIBRARY_NAMES = {"code", "state", "error", "error_description"}


def _form_field_names():
    """The field names of every Flask-WTF form class in portal (csrf_token aside, see REQUEST_NAMES)."""
    for module in pkgutil.walk_packages(portal.__path__, "portal."):
        importlib.import_module(module.name)
    forms, todo = set(), [FlaskForm]
    while todo:
        for subclass in todo.pop().__subclasses__():
            todo.append(subclass)
            if subclass.__module__.startswith("portal."):
                forms.add(subclass)
    assert forms, "no Flask-WTF form in portal"
    return {name for form in forms for name in dir(form) if isinstance(getattr(form, name), UnboundField)}


def _functions():
    """Every function and method of portal: (name, parameter names, {parameter: default}, node)."""
    found = []
    for path in sorted(PORTAL_DIR.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                params = [a.arg for a in node.args.posonlyargs + node.args.args]
                defaults = dict(
                    zip(params[len(params) - len(node.args.defaults) :], node.args.defaults, strict=True)
                )
                defaults.update(
                    (a.arg, d) for a, d in zip(node.args.kwonlyargs, node.args.kw_defaults, strict=True) if d
                )
                found.append((node.name, params + [a.arg for a in node.args.kwonlyargs], defaults, node))
    return found


def _callee(call):
    return call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", None)


def _string(node):
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _read_names():
    """The names portal's code reads from request.args, .values and .form: `request.args.get("q")`,
    `.getlist(...)`, `request.args["q"]`, `"q" in request.args`; also through a function the mapping
    is handed to (`ContactQuery.from_args(request.args)` reads `args.get("q")`, and hands `args` on to
    `boundary.sort_arg`), and through a helper that reads a name it is given (`_term("gq")`)."""
    functions = _functions()
    by_name = {}
    for name, params, _defaults, _node in functions:
        by_name.setdefault(name, []).append(params)
    holding = {}  # function name -> its parameters that hold a request mapping
    names, key_params = set(), set()  # key_params: (function, parameter) used as the name read

    def is_mapping(node, function):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            return node.value.id == "request" and node.attr in REQUEST_DATA
        return isinstance(node, ast.Name) and node.id in holding.get(function, ())

    def read(key, function, params):
        if _string(key) is not None:
            names.add(_string(key))
        elif isinstance(key, ast.Name) and key.id in params:
            key_params.add((function, key.id))

    changed = True
    while changed:  # until no more parameters are found to hold a request mapping
        changed = False
        for function, params, _defaults, node in functions:
            for sub in ast.walk(node):
                if isinstance(sub, ast.Call):
                    func = sub.func
                    if isinstance(func, ast.Attribute) and func.attr in ("get", "getlist") and sub.args:
                        if is_mapping(func.value, function):
                            read(sub.args[0], function, params)
                    handed = [(i, a) for i, a in enumerate(sub.args) if is_mapping(a, function)]
                    handed += [
                        (k.arg, k.value) for k in sub.keywords if k.arg and is_mapping(k.value, function)
                    ]
                    for where, _arg in handed:
                        for callee_params in by_name.get(_callee(sub), []):
                            if isinstance(where, str):
                                target = where if where in callee_params else None
                            else:
                                skip = 1 if callee_params[:1] in (["self"], ["cls"]) else 0
                                target = (callee_params[skip + where : skip + where + 1] or [None])[0]
                            if target and target not in holding.setdefault(_callee(sub), set()):
                                holding[_callee(sub)].add(target)
                                changed = True
                elif isinstance(sub, ast.Subscript) and is_mapping(sub.value, function):
                    read(sub.slice, function, params)
                elif isinstance(sub, ast.Compare) and len(sub.ops) == 1 and isinstance(sub.ops[0], ast.In):
                    if is_mapping(sub.comparators[0], function):
                        read(sub.left, function, params)
    for function, _params, defaults, node in functions:  # names handed to a helper that reads them
        for helper, param in key_params:
            if function == helper and _string(defaults.get(param)) is not None:
                names.add(_string(defaults[param]))
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call):
                for helper, param in key_params:
                    if _callee(sub) != helper:
                        continue
                    for callee_params in by_name[helper]:
                        skip = 1 if callee_params[:1] in (["self"], ["cls"]) else 0
                        index = callee_params.index(param) - skip if param in callee_params else -1
                        if 0 <= index < len(sub.args) and _string(sub.args[index]) is not None:
                            names.add(_string(sub.args[index]))
                    names.update(
                        _string(k.value) for k in sub.keywords if k.arg == param and _string(k.value)
                    )
    return names


READ_NAMES = _read_names()
FIELD_NAMES = _form_field_names()
# Every name sent in the query and in the form: a form can be read from the query too (the CSV import's
# column mapping), and a view may read a query name from a POST. Never csrf_token: a NUL in it makes
# every POST a CSRF refusal (400) before any view reads its input, and the sweep would test nothing.
REQUEST_NAMES = tuple(sorted((READ_NAMES | FIELD_NAMES | LIBRARY_NAMES) - {"csrf_token"}))


@pytest.fixture
def book(world):
    """Acme with Microsoft User Synchronization on, connected in Manual mode, one group, one contact."""
    manual_acme(world)
    db.session.commit()
    return world


@pytest.fixture
def olga_client(app, book):
    """The operator sees every page; her working customer is Acme."""
    return app.test_client().sign_in_as(book.olga)


def _real_url(rule, world):
    """The rule's URL with ids of rows that exist, so the view gets as far as reading its input."""
    ids = {
        "contact_id": world.anna.id,
        "group_id": world.sales.id,
        "customer_id": world.acme.id,
        "reseller_id": world.northwind.id,
        "admin_id": world.alice.id,
    }
    values = {name: ids.get(name, 1) if _is_int(rule, name) else "sync_active" for name in rule.arguments}
    return rule.build(values, append_unknown=False)[1]


# --- 1. NUL and other control characters ----------------------------------------------------------


@pytest.mark.parametrize("rule", GET_RULES, ids=[r.rule for r in GET_RULES])
def test_nul_in_any_query_parameter_never_answers_500(olga_client, book, rule):
    query = {name: f"a{NUL}b" for name in REQUEST_NAMES}
    for headers in ({}, HX):
        response = olga_client.get(_real_url(rule, book), query_string=query, headers=headers)
        response.get_data()  # a streamed answer (the CSV export) runs its query only now
        not_ready = rule.rule == "/readyz" and response.status_code == 503  # its answer, not a crash
        assert response.status_code < 500 or not_ready, (rule.rule, response.status_code)


@pytest.mark.parametrize("rule", POST_RULES, ids=[r.rule for r in POST_RULES])
def test_nul_in_any_form_field_never_answers_500(olga_client, book, rule):
    data = {name: f"a{NUL}b" for name in REQUEST_NAMES}
    for headers in ({}, HX):
        response = olga_client.post(_real_url(rule, book), data=data, headers=headers)
        assert response.status_code < 500, (rule.rule, response.status_code)


# The names the sweeps sent when they were kept by hand: discovery must find at least these.
ONCE_KEPT_BY_HAND = {
    *("q", "gq", "page", "after", "before", "group", "sort", "kind", "part", "show", "role", "customer_id"),
    *("next", "state", "code", "error", "value", "on", "mode", "confirm", "name", "email", "password"),
    *("salutation", "first_name", "last_name", "groups", "group_id", "contact_id", "street", "postal_code"),
    *("city", "country", "notification_recipients", "allowed_domains", "ms_user_sync", "admin_email"),
    *("admin_name", "admin_password", "reseller", "customer", "has_header"),
}


def test_the_sweeps_send_every_name_the_code_reads():
    """Discovery cannot silently find nothing: each source finds names, together at least the old list."""
    assert {"q", "gq", "page", "sort", "after", "next", "customer_id", "mode", "tenant"} <= READ_NAMES
    assert {"email", "password", "first_name", "has_header", "admin_email", "groups"} <= FIELD_NAMES
    assert ONCE_KEPT_BY_HAND <= set(REQUEST_NAMES), ONCE_KEPT_BY_HAND - set(REQUEST_NAMES)
    assert "csrf_token" not in REQUEST_NAMES


def test_contact_search_with_nul_still_finds_the_contact(alice_client, book):
    response = alice_client.get("/contacts/", query_string={"q": f"Sch{NUL}midt"})
    assert response.status_code == 200
    assert "Schmidt, Anna" in text(response)


def test_customer_switcher_search_with_nul_still_finds_the_customer(rita_client, book):
    response = rita_client.get("/customers/search", query_string={"q": f"Glo{NUL}bex"})
    assert response.status_code == 200
    assert "Globex AG" in text(response)


def test_contact_created_with_nul_in_every_field_is_stored_without_it(alice_client, book):
    response = alice_client.post(
        "/contacts/new",
        data={
            "salutation": f"Fr{NUL}au",
            "first_name": f"Jo{NUL}hanna",
            "last_name": f"K\x1bl{NUL}ein",
            "email": f"johanna{NUL}@acme.example",
            "groups": [str(book.sales.id)],
        },
    )
    assert response.status_code == 302
    contact = db.session.scalar(select(Contact).where(Contact.last_name == "Klein"))
    assert (contact.salutation, contact.first_name, contact.email) == (
        "Frau",
        "Johanna",
        "johanna@acme.example",
    )


def test_contact_edited_with_nul_is_stored_without_it(alice_client, book):
    response = alice_client.post(
        f"/contacts/{book.anna.id}/edit",
        data={"first_name": f"An{NUL}ne", "last_name": "Schmidt", "email": f"anne{NUL}@acme.example"},
    )
    assert response.status_code == 302
    anna = reload(Contact, book.anna.id)
    assert (anna.first_name, anna.email) == ("Anne", "anne@acme.example")


def test_customer_master_data_with_nul_keeps_line_breaks_and_drops_the_nul(alice_client, book):
    response = alice_client.post(
        "/masterdata/customer",
        data={
            "name": f"Acme{NUL} GmbH",
            "street": "Hauptstraße 5",
            "postal_code": "80331",
            "city": f"Mün{NUL}chen",
            "country": "Germany",
            "notification_recipients": f"it@acme.example{NUL}\r\nhr@acme.example",
            "allowed_domains": "",
            "ms_user_sync": "inherit",
        },
    )
    assert response.status_code == 302
    acme = reload(Customer, book.acme.id)
    assert (acme.name, acme.city) == ("Acme GmbH", "München")
    assert acme.notification_recipients == "it@acme.example\nhr@acme.example"


def test_reseller_master_data_with_nul_is_stored_without_it(rita_client, book):
    response = rita_client.post(
        f"/masterdata/resellers/{book.northwind.id}",
        data={"name": f"North{NUL}wind IT", "city": f"Le{NUL}eds", "ms_user_sync": "y"},
    )
    assert response.status_code == 302
    northwind = reload(Reseller, book.northwind.id)
    assert (northwind.name, northwind.city) == ("Northwind IT", "Leeds")


def test_new_reseller_with_nul_is_stored_without_it(olga_client, book):
    response = olga_client.post(
        "/masterdata/resellers/new",
        data={
            "name": f"Fabri{NUL}kam",
            "admin_email": f"fiona{NUL}@fabrikam.example",
            "admin_name": "Fiona",
            "admin_password": "long-enough-1",
        },
    )
    assert response.status_code == 302
    assert db.session.scalar(select(Reseller).where(Reseller.name == "Fabrikam")) is not None
    assert db.session.scalar(select(AdminUser).where(AdminUser.email == "fiona@fabrikam.example")) is not None


def test_group_created_and_renamed_with_nul_is_stored_without_it(alice_client, book):
    assert alice_client.post("/contacts/groups", data={"name": f"Mar{NUL}keting"}).status_code == 302
    group = db.session.scalar(select(ContactGroup).where(ContactGroup.name == "Marketing"))
    assert group is not None
    for headers, answer, name in (({}, 302, "Vertrieb"), (HX, 200, "Verkauf")):
        typed = f"{name[:3]}{NUL}{name[3:]}"
        response = alice_client.post(
            f"/contacts/groups/{group.id}/rename", data={"name": typed}, headers=headers
        )
        assert response.status_code == answer  # a page redirects, htmx gets the renamed title
        assert reload(ContactGroup, group.id).name == name


def test_group_member_search_with_nul_still_finds_the_contact(alice_client, book):
    other = ContactGroup(customer_id=book.acme.id, name="Other", origin="manual")
    db.session.add(other)
    db.session.commit()
    response = alice_client.get(
        f"/contacts/groups/{other.id}/candidates", query_string={"q": f"An{NUL}na"}, headers=HX
    )
    assert response.status_code == 200 and "anna@acme.example" in text(response)


def test_sign_in_with_nul_in_the_email_signs_in(client, book):
    response = client.post("/login", data={"email": f"alice@acme{NUL}.example", "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_admin_creates_customer_and_account_with_nul_stored_without_it(rita_client, book):
    assert rita_client.post("/admin/customers/new", data={"name": f"Umb{NUL}rella AG"}).status_code == 302
    umbrella = db.session.scalar(select(Customer).where(Customer.name == "Umbrella AG"))
    assert umbrella is not None
    response = rita_client.post(
        "/admin/accounts/new",
        data={
            "email": f"ursula{NUL}@umbrella.example",
            "name": f"Ur{NUL}sula",
            "role": "customer",
            "customer": str(umbrella.id),
            "password": "initial-pass-1",
        },
    )
    assert response.status_code == 302
    ursula = db.session.scalar(select(AdminUser).where(AdminUser.email == "ursula@umbrella.example"))
    assert ursula.name == "Ursula"


def test_switch_customer_with_nul_in_the_return_path_switches(rita_client, book):
    response = rita_client.post(
        "/switch-customer", data={"customer_id": f"{book.globex.id}{NUL}", "next": f"/contacts/{NUL}"}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/contacts/"


@pytest.mark.parametrize("rule", TEXT_RULES, ids=[r.rule for r in TEXT_RULES])
def test_nul_in_a_url_path_segment_is_not_found(olga_client, book, rule):
    values = {name: 1 if _is_int(rule, name) else f"a{NUL}b" for name in rule.arguments}
    url = rule.build(values, append_unknown=False)[1]
    for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
        response = olga_client.open(url, method=method)
        assert response.status_code == 404, (method, url, response.status_code)


def test_clean_text_drops_control_characters_but_keeps_tab_and_line_breaks():
    assert boundary.clean_text(f"A{NUL}\x07B\x1b\x7f\tC\r\nD") == "AB\tC\r\nD"


# --- 2. Ids and cursors out of range ---------------------------------------------------------------


@pytest.mark.parametrize("rule", INT_RULES, ids=[r.rule for r in INT_RULES])
def test_out_of_range_ids_in_the_path_are_not_found(olga_client, book, rule):
    for huge in HUGE_IDS:
        values = {name: huge if _is_int(rule, name) else "sync_active" for name in rule.arguments}
        url = rule.build(values, append_unknown=False)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = olga_client.open(url, method=method)
            assert response.status_code == 404, (method, url, response.status_code)


@pytest.mark.parametrize(
    "path",
    [
        "/contacts/0",
        "/contacts/-1",
        "/contacts/1e3",
        "/contacts/0x10",
        f"/contacts/{10**20}/edit",
        f"/contacts/groups/{2**31}",
    ],
)
def test_malformed_ids_in_the_path_are_not_found_with_the_portal_page(alice_client, book, path):
    response = alice_client.get(path)
    assert response.status_code == 404
    assert "does not exist, or you may not see it" in text(response)


@pytest.mark.parametrize("value", [str(2**31), str(2**63), str(10**20), "-1", "0", "abc", "1.5", ""])
@pytest.mark.parametrize("name", ["after", "before", "group"])
def test_contact_book_cursor_or_group_out_of_range_shows_the_first_page(alice_client, book, name, value):
    response = alice_client.get("/contacts/", query_string={name: value})
    assert response.status_code == 200
    assert "Schmidt, Anna" in text(response)


@pytest.mark.parametrize(
    "path",
    [
        "/admin/accounts",
        "/admin/customers",
        "/notifications/",
        "/sync/history",
        "/m365/manual/users",
        "/m365/manual/contacts",
    ],
)
def test_page_number_out_of_range_never_answers_500(olga_client, book, path):
    for page in (*HUGE_IDS, -1, 0, "x"):
        response = olga_client.get(path, query_string={"page": page})
        assert response.status_code == 200, (path, page, response.status_code)


def test_switch_to_out_of_range_customer_is_not_found(rita_client, book):
    for huge in HUGE_IDS:
        assert rita_client.post("/switch-customer", data={"customer_id": huge}).status_code == 404


def test_adding_an_out_of_range_contact_to_a_group_is_not_found(alice_client, book):
    for huge in HUGE_IDS:
        response = alice_client.post(f"/contacts/groups/{book.sales.id}/members", data={"contact_id": huge})
        assert response.status_code == 404


def test_positive_int_accepts_only_row_ids():
    assert boundary.positive_int("42") == 42
    for bad in (str(2**31), "0", "-1", "abc", "", "1.5"):
        with pytest.raises(ValueError):
            boundary.positive_int(bad)


# --- 3. Content-Security-Policy ----------------------------------------------------------------------


def test_content_security_policy_forbids_base_objects_framing_and_foreign_forms(app, client):
    app.config["M365_AUTHORITY"] = "https://login.microsoftonline.com"
    policy = client.get("/login").headers["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}
    assert directives["base-uri"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["form-action"] == ["'self'", "https://login.microsoftonline.com"]
    assert directives["default-src"] == ["'self'"] and directives["script-src"] == ["'self'"]


# --- 4. Host header and PORTAL_BASE_URL ---------------------------------------------------------------


@pytest.fixture
def production_env(monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "Vq3Zr8Lk1Xw6Tb9Nc2Hm5Pd7Yf0Gs4Ju8Ka3Ee6Ri1Oq9Uw5Ly")
    monkeypatch.delenv("TRUSTED_HOSTS", raising=False)
    monkeypatch.delenv("PORTAL_BASE_URL", raising=False)
    return monkeypatch


def test_production_without_portal_base_url_refuses_to_start(production_env):
    with pytest.raises(ConfigError, match="PORTAL_BASE_URL"):
        from_environment()


@pytest.mark.parametrize("url", ["portal.example.com", "ftp://portal.example.com", "https://"])
def test_production_with_a_malformed_portal_base_url_refuses_to_start(production_env, url):
    production_env.setenv("PORTAL_BASE_URL", url)
    with pytest.raises(ConfigError, match="PORTAL_BASE_URL"):
        from_environment()


def test_production_trusts_only_the_host_of_portal_base_url_by_default(production_env):
    production_env.setenv("PORTAL_BASE_URL", "https://Portal.Example.com:8443/")
    settings = from_environment()
    assert settings["PORTAL_BASE_URL"] == "https://Portal.Example.com:8443"
    assert settings["TRUSTED_HOSTS"] == ["portal.example.com"]


def test_urls_built_outside_a_request_use_portal_base_url(production_env):
    """The runner has no request: url_for(..., _external=True) still gives the public address."""
    production_env.setenv("PORTAL_BASE_URL", "https://Portal.Example.com:8443/awareness")
    settings = from_environment()
    url_keys = ("PORTAL_BASE_URL", "SERVER_NAME", "APPLICATION_ROOT", "PREFERRED_URL_SCHEME")
    app = create_app(make_test_config(**{key: settings[key] for key in url_keys}))
    with app.app_context():
        link = url_for("sync.history", _external=True)
    assert link == "https://portal.example.com:8443/awareness/sync/history"


def test_trusted_hosts_are_read_from_the_environment(production_env):
    production_env.setenv("PORTAL_BASE_URL", "https://portal.example.com")
    production_env.setenv("TRUSTED_HOSTS", " portal.example.com, .internal.example ,localhost ")
    assert from_environment()["TRUSTED_HOSTS"] == ["portal.example.com", ".internal.example", "localhost"]


def test_development_trusts_any_host_unless_told(monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "development")
    monkeypatch.delenv("TRUSTED_HOSTS", raising=False)
    monkeypatch.delenv("PORTAL_BASE_URL", raising=False)
    assert from_environment()["TRUSTED_HOSTS"] is None


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:5000", "http://localhost:5000", "http://localhost"])
def test_development_answers_on_localhost_and_loopback(monkeypatch, base_url):
    monkeypatch.setenv("PORTAL_ENV", "development")
    monkeypatch.delenv("TRUSTED_HOSTS", raising=False)
    client = create_app(make_test_config(SERVER_NAME=None)).test_client()
    assert client.get("/login", base_url=base_url).status_code == 200


# --- 5. Error answers: the portal's own page, translated ---------------------------------------------


def test_production_app_answers_a_foreign_host_with_400_and_its_own_host_normally(production_env):
    production_env.setenv("PORTAL_BASE_URL", "https://portal.example.com")
    app = create_app(make_test_config(SERVER_NAME=None))  # TRUSTED_HOSTS from the environment
    client = app.test_client()
    foreign = client.get("/login", base_url="https://evil.example")
    assert foreign.status_code == 400
    assert "This portal does not answer to that address" in text(foreign)
    assert "<html" in text(foreign)  # the portal's own error page
    assert client.get("/login", base_url="https://portal.example.com").status_code == 200


def test_foreign_host_answer_is_translated_and_an_htmx_fragment_for_htmx(app):
    app.config.update(SERVER_NAME=None, TRUSTED_HOSTS=["portal.example.com"])
    client = app.test_client()
    response = client.get("/login", base_url="https://evil.example", headers={**GERMAN, **HX})
    assert response.status_code == 400
    assert "<html" not in text(response)
    assert "Dieses Portal antwortet nicht unter dieser Adresse" in text(response)


def test_werkzeugs_generic_bad_request_text_is_replaced_by_a_translated_one():
    from werkzeug.exceptions import BadRequest

    app = create_app(make_test_config())  # its own app: a route is added before its first request

    @app.route("/_boom")
    def _boom():
        raise BadRequest()

    response = app.test_client().get("/_boom", headers=GERMAN)
    assert response.status_code == 400
    assert "could not understand" not in text(response)
    assert "Die Anfrage konnte nicht verarbeitet werden" in text(response)

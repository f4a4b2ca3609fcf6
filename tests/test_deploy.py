"""deploy/: the units start web and runner after the migrations; nginx neither repeats the portal's
security headers nor logs the Microsoft callback's query (the authorization code)."""

import re
import runpy

from portal import create_app
from tests.conftest import make_test_config
from tests.deploy_files import DEPLOY, command_line, read_env_file, read_unit

NGINX = (DEPLOY / "nginx-portal.conf").read_text()
# nginx variables holding the query string ($request_method, $request_time are harmless: \b).
QUERY_VARIABLES = re.compile(r"\$(request|request_uri|args|query_string|arg_\w+|http_referer)\b")


def _blocks(conf):
    """{location or "server": [directive lines]} of an nginx file (one level of locations)."""
    blocks, stack = {}, []
    for raw in conf.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.endswith("{"):
            stack.append(line[:-1].strip())
        elif line == "}":
            stack.pop()
        else:
            blocks.setdefault(stack[-1] if stack else "http", []).append(line)
    return blocks


def test_nginx_repeats_none_of_the_security_headers_the_portal_sets():
    app = create_app(make_test_config(SESSION_COOKIE_SECURE=True))
    portal_headers = {name.lower() for name in app.test_client().get("/login").headers.keys()}
    assert {"content-security-policy", "strict-transport-security", "referrer-policy"} <= portal_headers
    for block, lines in _blocks(NGINX).items():
        if block.startswith("location /static/"):
            continue  # nginx answers these itself, the portal never sees them
        added = {line.split()[1].lower() for line in lines if line.startswith("add_header")}
        assert not added & portal_headers, (block, added & portal_headers)


def test_nginx_logs_the_microsoft_callback_without_its_query():
    blocks = _blocks(NGINX)
    callback = blocks["location = /m365/callback"]
    assert "proxy_pass http://127.0.0.1:8000;" in callback
    [access_log] = [line for line in callback if line.startswith("access_log")]
    if access_log != "access_log off;":
        name = access_log.rstrip(";").split()[2]
        definition = re.search(rf"log_format\s+{name}\s+(.*?);", NGINX, re.DOTALL).group(1)
        assert "$uri" in definition
        assert not QUERY_VARIABLES.search(definition), definition


def test_web_and_runner_start_only_after_the_migrate_unit():
    migrate = read_unit("awareness-portal-migrate")
    assert migrate["Type"] == ["oneshot"]
    assert command_line(migrate)[-3:] == ["portal", "db", "upgrade"]
    for name in ("awareness-portal-web", "awareness-portal-runner"):
        unit = read_unit(name)
        assert "awareness-portal-migrate.service" in " ".join(unit["After"]).split(), name
        assert "awareness-portal-migrate.service" in " ".join(unit["Requires"]).split(), name
        assert unit["EnvironmentFile"] == migrate["EnvironmentFile"], name


def test_env_example_sets_the_base_url_and_the_one_trusted_proxy():
    values = read_env_file()
    assert values["PORTAL_ENV"] == "production"
    assert values["PORTAL_BASE_URL"].startswith("https://")
    assert values["TRUSTED_PROXIES"] == "1"


def _access_log_lines(tmp_path, requests):
    """The lines gunicorn's logger (deploy/gunicorn.conf.py's logger_class, with its format) writes
    for (path, status) requests."""
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config

    settings = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    config = Config()
    config.set("accesslog", str(tmp_path / "access.log"))
    config.set("access_log_format", settings["access_log_format"])
    logger = settings["logger_class"](config)
    for path, status in requests:
        environ = {
            "REQUEST_METHOD": "GET",
            "RAW_URI": path,
            "PATH_INFO": path,
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
        }
        answer = SimpleNamespace(status=f"{status} X", status_code=status, sent=2, headers=[])
        logger.access(answer, SimpleNamespace(headers=[]), environ, timedelta(milliseconds=3))
    return (tmp_path / "access.log").read_text().splitlines()


def test_the_access_log_leaves_out_passing_probes_and_scim_requests_that_succeeded(tmp_path):
    lines = _access_log_lines(
        tmp_path,
        [
            ("/healthz", 200),
            ("/readyz", 503),
            ("/scim/v2/Users", 201),
            ("/scim/v2/Users/7", 404),
            ("/scim/v2/Users", 429),
            ("/contacts/", 200),
        ],
    )
    assert [line.split('"')[1] for line in lines] == [
        "GET /readyz HTTP/1.1",
        "GET /scim/v2/Users/7 HTTP/1.1",
        "GET /scim/v2/Users HTTP/1.1",
        "GET /contacts/ HTTP/1.1",
    ]

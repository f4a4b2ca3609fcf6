"""The portal's application factory."""

import logging

from flask import Flask, request
from flask.globals import request_ctx
from flask_babel import get_locale
from flask_babel import gettext as _
from werkzeug.exceptions import SecurityError
from werkzeug.middleware.proxy_fix import ProxyFix

from portal import (
    attributes,
    boundary,
    cli,
    contacts,
    dashboard,
    formatting,
    htmx,
    i18n,
    probes,
    search,
    writes,
)
from portal import config as config_module
from portal._version import __version__
from portal.admin import routes as admin_routes
from portal.auth import routes as auth_routes
from portal.auth import session as auth_session
from portal.automatic import routes as automatic_routes
from portal.extensions import babel, csrf, db, migrate
from portal.extensions import mail as mail_extension  # not portal.mail, the outbox module
from portal.history import routes as history_routes
from portal.manual import routes as manual_routes
from portal.masterdata import routes as masterdata_routes
from portal.outbox import routes as outbox_routes
from portal.provisioning import routes as provisioning_routes
from portal.scim import routes as scim_routes
from portal.synchronize import routes as synchronize_routes

log = logging.getLogger(__name__)


def create_app(config=None):
    """Build the app: settings from the environment, overridden by the `config` mapping."""
    instance = config_module.instance_path()
    app = Flask(
        __name__,
        template_folder=str(config_module.resource_dir("templates")),
        static_folder=str(config_module.resource_dir("static")),
        instance_path=str(instance),
    )
    app.config.update(config_module.from_environment())
    if config:
        app.config.update(config)
    instance.mkdir(parents=True, exist_ok=True)
    app.wsgi_app = probes.AnyHostProbes(app.wsgi_app, app.config.get("TRUSTED_HOSTS"))
    if app.config.get("TRUSTED_PROXIES"):
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    boundary.init_app(app)  # before any rule is added: the converters bind per rule
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    register_template_helpers(app)
    return app


def register_extensions(app):
    db.init_app(app)
    migrate.init_app(
        app,
        db,
        directory=str(config_module.resource_dir("migrations")),
        render_as_batch=True,
        include_name=search.include_name,  # the search indexes are not declared on the models
    )
    csrf.init_app(app)
    mail_extension.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale)
    auth_session.init_app(app)


def register_blueprints(app):
    """Every area's blueprint; a missing module is an error at start-up."""
    for blueprint in (
        auth_routes.bp,
        dashboard.bp,
        contacts.bp,
        masterdata_routes.bp,
        admin_routes.bp,
        synchronize_routes.bp,
        history_routes.bp,
        outbox_routes.bp,
        manual_routes.bp,
        automatic_routes.bp,
        provisioning_routes.bp,
        probes.bp,
        scim_routes.bp,
    ):
        app.register_blueprint(blueprint)


def register_errorhandlers(app):
    """The portal's own error page for every error answer (a fragment for htmx requests)."""

    def render_error(error):
        code = getattr(error, "code", 500)
        titles = {
            400: _("Bad request"),
            403: _("Forbidden"),
            404: _("Not found"),
            405: _("Method not allowed"),
            413: _("File too large"),
            429: _("Too many attempts"),
            500: _("Something went wrong"),
        }
        _bind_urls_for_refused_host(app)
        return htmx.render(
            "errors/error.html",
            "errors/_error.html",
            code=code,
            title=titles.get(code, _("Error")),
            description=error_description(error, code),
        ), code

    for code in (400, 403, 404, 405, 413, 429, 500):
        app.register_error_handler(code, render_error)


def error_description(error, code):
    """The error's own message, or ours (translated) instead of Werkzeug's English stock text."""
    if isinstance(error, SecurityError):  # a Host header outside TRUSTED_HOSTS
        return _("This portal does not answer to that address. Please use the portal's own address.")
    description = getattr(error, "description", "") or ""
    if description != getattr(type(error), "description", None):
        return description
    stock = {
        400: _("The request could not be processed. Please reload the page and try again."),
        403: _("You may not do this."),
        405: _("This address does not accept this kind of request."),
        500: _("An unexpected error occurred. Please try again later."),
    }
    return stock.get(code, "")


def _bind_urls_for_refused_host(app):
    """A request whose Host was refused never got a URL adapter, yet the error page builds its
    (relative) links: bind one to our own first trusted host, never to the refused one."""
    if request_ctx.url_adapter is None and app.config.get("TRUSTED_HOSTS"):
        request_ctx.url_adapter = app.url_map.bind(
            app.config["TRUSTED_HOSTS"][0].lstrip("."),
            script_name=request.root_path or "/",
            url_scheme=request.scheme,
        )


def register_commands(app):
    cli.register(app)


def register_template_helpers(app):
    app.jinja_env.globals["portal_version"] = __version__
    app.jinja_env.globals["get_locale"] = get_locale  # <html lang>, the account menu's language switch
    app.jinja_env.globals["ATTRIBUTES"] = attributes.ATTRIBUTES
    app.jinja_env.globals["attribute_label"] = attributes.label
    formatting.init_app(app)
    htmx.init_app(app)
    writes.init_app(app)

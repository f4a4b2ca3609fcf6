"""Languages: whose language a page is in, and marking messages that are stored or passed around in
English and translated where they are shown."""

from flask import current_app, has_request_context, request
from flask_login import current_user


def N_(message):
    """Mark `message` for extraction into the catalogue (pybabel knows N_); returns it unchanged."""
    return message


def select_locale():
    """The signed-in admin's language, else the visitor's from Accept-Language (supported ones only)."""
    if not has_request_context():  # the runner and CLI: no visitor, the default language
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if current_user.is_authenticated and current_user.language:
        return current_user.language
    return browser_locale()


def browser_locale():
    """The best supported language of the browser's Accept-Language."""
    return request.accept_languages.best_match(current_app.config["BABEL_SUPPORTED_LOCALES"]) or "en"

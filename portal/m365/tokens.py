"""Encryption at rest of the M365 refresh tokens (Fernet from `cryptography`).

The key comes from TOKEN_ENCRYPTION_KEY. Several comma-separated keys are accepted for key
rotation: the first encrypts, all decrypt (MultiFernet). Without the setting (the embedded
default install) a key is generated once into `instance/token.key` (TOKEN_KEY_FILE) and
start-up logs where it is, so the operator can back it up. Plain tokens are never logged.
"""

import logging
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app

from portal.config import ConfigError

log = logging.getLogger(__name__)
_EXTENSION_KEY = "m365_token_cipher"
# What an operator must do about a generated key file (start-up log and `flask doctor` say it).
KEY_FILE_ADVICE = (
    "every host running the portal (web and runner) needs this same key: copy the file to each "
    "of them and back it up with the database, or better set TOKEN_ENCRYPTION_KEY"
)


class TokenDecryptError(RuntimeError):
    """A stored token cannot be decrypted: the key changed or the value was tampered with."""


def init_app(app):
    """Resolve the key once at start-up (fails loudly on a malformed key)."""
    app.extensions[_EXTENSION_KEY] = _build_cipher(app)


def _key_file(app):
    return Path(app.config.get("TOKEN_KEY_FILE") or Path(app.instance_path) / "token.key")


def key_file_in_use(app):
    """The generated key file the tokens are encrypted with, or None when TOKEN_ENCRYPTION_KEY is set."""
    if (app.config.get("TOKEN_ENCRYPTION_KEY") or "").strip():
        return None
    return _key_file(app)


def _build_cipher(app):
    key_file = key_file_in_use(app)
    if key_file is None:
        configured = app.config["TOKEN_ENCRYPTION_KEY"]
        keys = [k.strip() for k in configured.split(",") if k.strip()]
        source = "TOKEN_ENCRYPTION_KEY"
    else:
        keys = [generated_key(key_file)]
        source = str(key_file)
        if app.config.get("PORTAL_ENV") == "production":
            log.warning(
                "TOKEN_ENCRYPTION_KEY is not set; M365 refresh tokens are encrypted with the key file "
                "%s: %s.",
                source,
                KEY_FILE_ADVICE,
            )
        else:
            log.info(
                "M365 refresh tokens are encrypted with the key file %s "
                "(set TOKEN_ENCRYPTION_KEY to use your own key).",
                source,
            )
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError:
        raise ConfigError(
            f"{source} must hold Fernet keys (32 url-safe base64-encoded bytes), e.g. from "
            "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
        ) from None


def generated_key(path):
    """The key of the embedded default in the file `path`: created once (mode 0600), then read back.

    Processes starting at once (web workers, the runner) all end up with the same key: the key is
    written whole to a file of this process's own, then linked to `path`, which fails when another
    process was first; so nobody ever reads a half-written key file."""
    path = Path(path)
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    try:
        os.link(draft, path)
    except FileExistsError:
        return path.read_text().strip()
    finally:
        draft.unlink()
    log.warning("Generated a new token encryption key in %s", path)
    return key


def _cipher():
    app = current_app._get_current_object()
    if _EXTENSION_KEY not in app.extensions:
        init_app(app)
    return app.extensions[_EXTENSION_KEY]


def encrypt(plain):
    """Ciphertext (text) of a token; empty stays empty."""
    if not plain:
        return ""
    return _cipher().encrypt(plain.encode()).decode()


def keys_in_use(app):
    """The Fernet keys of the stored tokens as text (the first encrypts): what a backup must carry."""
    key_file = key_file_in_use(app)
    if key_file is None:
        return [k.strip() for k in app.config["TOKEN_ENCRYPTION_KEY"].split(",") if k.strip()]
    return [key_file.read_text().strip()] if key_file.exists() else []


def rotate(ciphertext):
    """The ciphertext re-encrypted with the first key (MultiFernet.rotate); raises TokenDecryptError
    when no configured key decrypts it."""
    try:
        return _cipher().rotate(ciphertext.encode()).decode()
    except InvalidToken:
        raise TokenDecryptError("A stored M365 token cannot be decrypted with any configured key.") from None


def decrypt(ciphertext):
    """The plain token of a stored ciphertext; empty stays empty."""
    if not ciphertext:
        return ""
    try:
        return _cipher().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise TokenDecryptError(
            "The stored M365 token cannot be decrypted (was TOKEN_ENCRYPTION_KEY changed?)."
        ) from None

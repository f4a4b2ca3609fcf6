"""`awareness-portal`: the flask commands of an installed portal, with the settings the units read.

`awareness-portal db upgrade` is `flask --app portal db upgrade` run with the environment file
of the systemd units (PORTAL_ENV_FILE, default /etc/awareness-portal/portal.env) loaded first, so an
operator's command sees exactly the web's and the runner's settings. Variables already set in the
process environment win, so one setting can be overridden for one command.
"""

import os
import sys
from pathlib import Path

import click
from flask.cli import FlaskGroup

from portal import create_app

DEFAULT_ENV_FILE = "/etc/awareness-portal/portal.env"


def read_env_file(path):
    """KEY=VALUE lines as systemd's EnvironmentFile= reads them: comments (# ;) and blank lines
    skipped, one pair of surrounding quotes removed, a later line overriding an earlier one."""
    values = {}
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def load_env_file(environ=os.environ):
    """Load PORTAL_ENV_FILE (or the default when it exists) into `environ`; returns its path or None."""
    path = environ.get("PORTAL_ENV_FILE") or DEFAULT_ENV_FILE
    if not os.path.exists(path):
        if "PORTAL_ENV_FILE" in environ:
            raise click.ClickException(f"PORTAL_ENV_FILE {path} does not exist.")
        return None
    try:
        values = read_env_file(path)
    except PermissionError:
        raise click.ClickException(
            f"{path} is not readable: run this as root or as the portal's user (runuser -u portal -- …)"
        ) from None
    for key, value in values.items():
        environ.setdefault(key, value)
    return path


def main():
    """The console script's entry point."""
    try:
        load_env_file()
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    # create_app reads the settings when a command runs: after the file is loaded.
    cli = FlaskGroup(name="awareness-portal", create_app=create_app, load_dotenv=False)
    cli.main(prog_name="awareness-portal")

"""Reading the files of deploy/ as systemd reads them, so tests follow deploy/ instead of copying it."""

import shlex
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
ENV_EXAMPLE = DEPLOY / "portal.env.example"


def read_env_file(path=ENV_EXAMPLE):
    """KEY=VALUE lines of an EnvironmentFile (comments and blank lines skipped; quotes removed)."""
    values = {}
    for raw in Path(path).read_text().splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        key, _, value = stripped.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def write_env_file(path, values):
    """An EnvironmentFile with `values` (no quoting needed for the values tests use)."""
    Path(path).write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    return path


def read_unit(name):
    """The [Service] settings of deploy/<name>.service and its [Unit] dependencies: {key: [values]}."""
    settings = {}
    for raw in (DEPLOY / f"{name}.service").read_text().splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith(("#", ";", "[")):
            continue
        key, _, value = stripped.partition("=")
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def command_line(unit, key="ExecStart"):
    """The unit's command (ExecStart by default) as an argument list."""
    [line] = unit[key]
    return shlex.split(line)

"""`awareness-portal`: the installed portal's commands, with the units' environment file loaded first."""

import subprocess
import sys
from pathlib import Path

import click
import pytest

from portal._version import __version__
from portal.manage import load_env_file

ROOT = Path(__file__).resolve().parent.parent
RUN = "from portal.manage import main; main()"  # what the console script's wrapper runs


def test_the_env_file_fills_only_what_the_process_environment_leaves_unset(tmp_path):
    env_file = tmp_path / "portal.env"
    lines = ["# comment", "SECRET_KEY='from-file'", "MAIL_DEFAULT_SENDER=Portal <p@x.example>", "A=1", "A=2"]
    env_file.write_text("\n".join(lines) + "\n")
    environ = {"PORTAL_ENV_FILE": str(env_file), "SECRET_KEY": "from-process"}
    assert load_env_file(environ) == str(env_file)
    assert environ["SECRET_KEY"] == "from-process"
    assert environ["MAIL_DEFAULT_SENDER"] == "Portal <p@x.example>" and environ["A"] == "2"


def test_a_named_env_file_that_does_not_exist_is_an_error(tmp_path):
    with pytest.raises(click.ClickException, match="does not exist"):
        load_env_file({"PORTAL_ENV_FILE": str(tmp_path / "missing.env")})


def test_awareness_portal_migrates_the_database_the_env_file_names(tmp_path):
    instance = tmp_path / "instance"
    env_file = tmp_path / "portal.env"
    env_file.write_text(f"PORTAL_INSTANCE_PATH={instance}\nDATABASE_URL=sqlite:///{instance}/portal.db\n")
    # Started elsewhere than the checkout, which is on the path only as an installed package would be.
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "PORTAL_ENV_FILE": str(env_file)}

    def run(*args):
        command = [sys.executable, "-c", RUN, *args]
        return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)

    assert run("version").stdout == f"awareness-portal {__version__}\n"
    assert run("db", "upgrade").returncode == 0
    assert (instance / "portal.db").stat().st_size > 0
    assert "OK   migrations current" in run("doctor").stdout

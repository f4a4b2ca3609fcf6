"""The release artifact: the wheel's metadata and contents, its version, where an install keeps its files."""

import tomllib
from pathlib import Path

from portal import config
from portal._version import __version__
from tests.test_translations import GERMAN, ensure_compiled

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# The directories the portal reads at run time besides its modules (package data of the wheel).
DATA_DIRS = ("templates", "static", "migrations", "translations")


def _requirement_names(path):
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("-")]


def test_the_wheel_depends_on_exactly_what_requirements_in_lists():
    assert PYPROJECT["project"]["dependencies"] == _requirement_names(ROOT / "requirements.in")


def test_package_data_carries_every_file_the_portal_reads_at_run_time():
    package = ROOT / "portal"
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["portal"]
    carried = {path for pattern in patterns for path in package.glob(pattern) if path.is_file()}
    needed = {
        path
        for name in DATA_DIRS
        for path in (package / name).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pot")
    }
    assert needed - carried == set(), "pyproject.toml's package-data misses files"


def test_the_emulator_bench_and_tests_stay_out_of_the_wheel():
    assert PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"] == ["portal", "portal.*"]


def test_version_command_prints_the_release_number(app):
    result = app.test_cli_runner().invoke(args=["version"])
    assert result.exit_code == 0 and result.output == f"awareness-portal {__version__}\n"


def test_every_page_shows_the_version_in_its_footer(client):
    ensure_compiled()
    english = client.get("/login").get_data(as_text=True)
    assert f'<footer class="footer">Awareness Portal {__version__}</footer>' in english
    german = client.get("/login", headers=GERMAN).get_data(as_text=True)
    assert "Anmelden" in german and f"Awareness Portal {__version__}</footer>" in german


def test_the_instance_path_comes_from_portal_instance_path(monkeypatch, tmp_path):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    assert config.instance_path() == tmp_path / "instance"
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert config.from_environment()["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/instance/portal.db"


def test_a_checkout_keeps_its_instance_next_to_the_code_and_an_install_never_in_the_working_directory(
    monkeypatch, tmp_path
):
    monkeypatch.delenv("PORTAL_INSTANCE_PATH", raising=False)
    assert config.instance_path() == ROOT / "instance"
    monkeypatch.setattr(config, "ROOT", tmp_path)  # site-packages: no pyproject.toml next to portal/
    monkeypatch.setattr(config.sys, "prefix", str(tmp_path / "venv"))
    assert config.instance_path() == tmp_path / "venv" / "var" / "portal-instance"

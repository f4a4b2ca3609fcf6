"""The release artifact: the wheel's metadata and contents, its version, where an install keeps its files."""

import runpy
import tomllib
from pathlib import Path

from portal import config
from portal._version import __version__
from tests.catalogue import GERMAN, ensure_compiled

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUP = runpy.run_path(str(ROOT / "setup.py"))  # not as __main__: nothing is built
# The directories the portal reads at run time besides its modules: where each is in the checkout,
# and the package whose package data carries it (with the path of the files inside that package).
DATA_DIRS = {
    "templates": (ROOT / "templates", "portal.templates", ""),
    "static": (ROOT / "static", "portal.static", ""),
    "migrations": (ROOT / "migrations", "portal.migrations", ""),
    "translations": (ROOT / "portal" / "translations", "portal", "translations/"),
}


def test_package_data_carries_every_file_the_portal_reads_at_run_time():
    package_data = PYPROJECT["tool"]["setuptools"]["package-data"]
    for name, (folder, package, prefix) in DATA_DIRS.items():
        base = folder.parent if prefix else folder
        carried = {path for pattern in package_data[package] for path in base.glob(pattern) if path.is_file()}
        needed = {
            path
            for path in folder.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pot")
        }
        needed -= {path for path in needed if path.suffix == ".py" and path.parent == folder}  # modules
        assert needed - carried == set(), f"pyproject.toml's package-data misses files of {name}/"


def test_the_checkouts_top_level_folders_go_into_the_package_and_nothing_else_does():
    assert {"portal.templates", "portal.static", "portal.migrations"} <= set(SETUP["PACKAGES"])
    assert all(name == "portal" or name.startswith("portal.") for name in SETUP["PACKAGES"])
    assert "m365_emulator" not in SETUP["PACKAGES"] and "tests" not in SETUP["PACKAGES"]


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

"""Build hooks: the checkout's top-level templates/, static/ and migrations/ go into the package
(portal/templates, ... in the wheel, where portal.config.resource_dir finds them), and the German
catalogue is compiled (.po -> .mo) into every wheel; the rest is pyproject.toml.

compile_catalogues() is the one .po -> .mo step: the wheel build, `make translations` and the tests
call it (this file, not portal/: a build must not import the package it builds)."""

import os
import tempfile
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

# Directories of the checkout that the wheel carries inside the package.
RESOURCES = ("templates", "static", "migrations")

TRANSLATIONS = Path(__file__).resolve().parent / "portal" / "translations"


def compile_catalogues(translations=TRANSLATIONS):
    """Compile each messages.po into the messages.mo next to it when that is missing or older.

    Written to a temporary file and renamed, so a process reading the catalogue (a parallel test
    session, a running portal) never sees half a file. Fuzzy entries stay out, as with pybabel."""
    for po_path in sorted(Path(translations).glob("*/LC_MESSAGES/messages.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as po:
            catalogue = read_po(po, locale=po_path.parent.parent.name)
        handle, tmp = tempfile.mkstemp(dir=po_path.parent, prefix=".messages-", suffix=".mo")
        try:
            with os.fdopen(handle, "wb") as mo:
                write_mo(mo, catalogue, use_fuzzy=False)
            os.chmod(tmp, 0o644)
            os.replace(tmp, mo_path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


class BuildWithCatalogues(build_py):
    """build_py that compiles the catalogues before the package data is copied."""

    def run(self):
        compile_catalogues()
        super().run()


# Only the portal: the M365 emulator, the benchmarks and the tests stay in the checkout.
PACKAGES = find_packages(include=["portal", "portal.*"]) + [f"portal.{name}" for name in RESOURCES]

if __name__ == "__main__":  # the build backend runs this file as a script; tests import it
    setup(
        packages=PACKAGES,
        package_dir={f"portal.{name}": name for name in RESOURCES},
        cmdclass={"build_py": BuildWithCatalogues},
    )

"""Build hooks: the checkout's top-level templates/, static/ and migrations/ go into the package
(portal/templates, ... in the wheel, where portal.config.resource_dir finds them), and the German
catalogue is compiled (.po -> .mo) into every wheel; the rest is pyproject.toml."""

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

# Directories of the checkout that the wheel carries inside the package.
RESOURCES = ("templates", "static", "migrations")

TRANSLATIONS = Path(__file__).resolve().parent / "portal" / "translations"


class BuildWithCatalogues(build_py):
    """build_py that compiles each messages.po next to itself before the package data is copied."""

    def run(self):
        for po_path in sorted(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po")):
            with po_path.open("rb") as po:
                catalogue = read_po(po, locale=po_path.parent.parent.name)
            with po_path.with_suffix(".mo").open("wb") as mo:
                write_mo(mo, catalogue, use_fuzzy=False)
        super().run()


# Only the portal: the M365 emulator, the benchmarks and the tests stay in the checkout.
PACKAGES = find_packages(include=["portal", "portal.*"]) + [f"portal.{name}" for name in RESOURCES]

if __name__ == "__main__":  # the build backend runs this file as a script; tests import it
    setup(
        packages=PACKAGES,
        package_dir={f"portal.{name}": name for name in RESOURCES},
        cmdclass={"build_py": BuildWithCatalogues},
    )

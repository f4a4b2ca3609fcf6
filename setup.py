"""Build hook: the German catalogue is compiled (.po -> .mo) into every wheel; the rest is pyproject.toml."""

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from setuptools import setup
from setuptools.command.build_py import build_py

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


setup(cmdclass={"build_py": BuildWithCatalogues})

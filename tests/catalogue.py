"""The German catalogue for the tests: where it is, compiling it, and the browsers' language headers."""

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE_DIR = ROOT / "portal" / "translations" / "de" / "LC_MESSAGES"
PO_FILE = CATALOGUE_DIR / "messages.po"
GERMAN = {"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}
ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}


def ensure_compiled():
    """Compile the .mo when it is missing or older than the .po (a fresh clone has only the .po), with
    setup.py's compile_catalogues, the build's own step (setup.py is read, not run: nothing is built)."""
    runpy.run_path(str(ROOT / "setup.py"))["compile_catalogues"]()

"""The release number: the wheel's version (pyproject.toml reads it), the page footer and `flask version`."""

__version__ = "1.0.0"

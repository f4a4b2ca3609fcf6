"""Where the browser may be sent back to after sign-in or a customer switch: a path of this portal.

Browsers are lenient with URLs: they drop tabs and newlines anywhere, strip leading control
characters and spaces, and read a backslash as a slash. So "/\\tother.host", "/\\\\other.host" or
a decoded "/%09/other.host" all end up as "//other.host", which is another site. Any such
character refuses the target outright; what is left must be a plain path, also once
percent-decoded (a proxy in between may decode it) and as a browser would read it.
"""

import re
import unicodedata
from urllib.parse import unquote, urlsplit

from flask import url_for

_TAB_OR_NEWLINE = re.compile(r"[\t\n\r]")
MAX_LENGTH = 2000


def _suspicious(char):
    # Whitespace, backslash, control/format/unassigned code points (C*) and separators (Z*).
    return char.isspace() or char == "\\" or unicodedata.category(char)[0] in "CZ"


def _as_browser_reads(url):
    """Roughly what a browser makes of `url` (WHATWG URL parsing) before it resolves it."""
    url = _TAB_OR_NEWLINE.sub("", url).strip("".join(map(chr, range(0x21))))
    return url.replace("\\", "/")


def _is_plain_path(url):
    url = _as_browser_reads(url)
    parts = urlsplit(url)
    return url.startswith("/") and not url.startswith("//") and not parts.scheme and not parts.netloc


def local_path(target):
    """`target` when it is a path of this portal (like "/contacts/?q=x"), else None."""
    if not isinstance(target, str) or not target or len(target) > MAX_LENGTH:
        return None
    if any(_suspicious(char) for char in target):
        return None
    if not (_is_plain_path(target) and _is_plain_path(unquote(target))):
        return None
    return target


def redirect_target(target):
    """`target` when local_path accepts it, else the dashboard."""
    return local_path(target) or url_for("dashboard.index")

"""The one rule for single-line text: names of companies, contacts and groups, CSV cells, subjects.

A name is shown in tables, written into CSV files and put into email subjects. A line break in it
splits a subject header (the message cannot be built), a NUL cannot be stored by PostgreSQL, and
other control characters are invisible and confuse every later comparison. So every single-line
value is normalised where it enters the portal (forms, CLI, CSV import, Microsoft 365), and once
more where a subject is built, for values stored before this rule existed.
"""

import re
import unicodedata

from wtforms import StringField

# Line and paragraph breaks, tabs and other whitespace (Unicode's list, which \s follows): one space.
_WHITESPACE = re.compile(r"\s+")
# Control characters that are not whitespace (NUL, BEL, ESC, DEL, the C1 range): removed, since
# they never separate words. All of Unicode's category "Cc" lies below U+00A0.
_CONTROLS = re.compile(
    "["
    + "".join(
        re.escape(chr(c))
        for c in range(0xA0)
        if unicodedata.category(chr(c)) == "Cc" and not chr(c).isspace()
    )
    + "]"
)


def single_line(value):
    """`value` on one line: control characters removed, whitespace runs (CR, LF, tab ...) one space.

    None stays None (WTForms passes None for a field that was not submitted); other values are
    made text first. Leading and trailing whitespace is dropped.
    """
    if value is None:
        return None
    value = _CONTROLS.sub("", str(value))
    return _WHITESPACE.sub(" ", value).strip()


def name_key(name):
    """The one comparison key of a name unique per customer (a contact group's): on one line and
    case-folded in Python, so "Ärzte", "ÄRZTE" and "ärzte" are one name on every database (SQLite's
    lower() folds ASCII only)."""
    return single_line(name or "").casefold()


def email_key(email):
    """The one comparison key of an email address: stripped and lower case. Addresses are unique per
    customer by it, and a contact matches an M365 user or a CSV row by it."""
    return (email or "").strip().lower()


class SingleLineField(StringField):
    """A StringField whose value passes through single_line before validation: every name field."""

    def __init__(self, label=None, validators=None, filters=(), **kwargs):
        super().__init__(label, validators, filters=(single_line, *filters), **kwargs)

"""The request boundary: what a request may carry before any view reads it.

One rule for every route, so no view has to remember it:

- Text: query and form values (and their names) lose C0 control characters and DEL; tab, CR and
  LF stay, because multi-line fields (notification recipients, allowed domains) need line breaks.
  We strip rather than answer 400: a browser never sends these characters, a paste or a hostile
  client does, and stripping keeps the rest of what the admin typed instead of throwing the whole
  form away. PostgreSQL cannot store NUL in text at all (it answered 500); the other controls are
  invisible junk in a name or an address. Validation runs on the cleaned value, so what is checked
  is what is stored. File uploads are left alone (the CSV reader owns its cells). No portal route
  reads a JSON body; one that does must clean it too.
- Path: a URL segment holding a control character matches no route (a plain 404): no stored name
  can contain one.
- Ids: `<int:...>` matches only 1..MAX_ID, the values an id column can hold; anything else is a
  plain 404 instead of an integer overflow in the database. `positive_int` is the same rule for
  ids, cursors and page numbers read from query or form: `request.args.get("after", type=positive_int)`.
- Sorts: `sort_arg` accepts only a list's own sort keys (else its default); `SortedBy` reads one.
"""

import re

from flask import Request
from werkzeug.datastructures import ImmutableMultiDict, MultiDict
from werkzeug.routing import IntegerConverter, PathConverter, UnicodeConverter, ValidationError

# Every primary key is an INTEGER column: 32 bits signed on PostgreSQL. Grow this with the columns.
MAX_ID = 2**31 - 1
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # all but tab, LF, CR
ANY_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")


def clean_text(value):
    """`value` without control characters other than tab, CR and LF (non-text values unchanged)."""
    return CONTROL_CHARACTERS.sub("", value) if isinstance(value, str) else value


def positive_int(value):
    """An id, cursor or page number from a request: a whole number 1..MAX_ID, else ValueError.

    Werkzeug's `MultiDict.get(name, type=positive_int)` turns the ValueError into the default."""
    number = int(value)
    if not 1 <= number <= MAX_ID:
        raise ValueError(f"{number} is not between 1 and {MAX_ID}")
    return number


def sort_arg(args, keys, default):
    """A list's sort from a request: "key" or "-key" (descending) for one of `keys`, else `default`."""
    sort = args.get("sort", default)
    return sort if sort.lstrip("-") in keys else default


class SortedBy:
    """`sort_key` and `descending` of a query object whose `sort` is "key" or "-key"."""

    sort: str

    @property
    def sort_key(self):
        """The sort's column name, without the direction."""
        return self.sort.lstrip("-")

    @property
    def descending(self):
        """True for a "-" sort."""
        return self.sort.startswith("-")


class CleanMultiDict(ImmutableMultiDict):
    """The query and form values of a request, cleaned by `clean_text` (file uploads untouched)."""

    def __init__(self, mapping=None):
        pairs = MultiDict(mapping).items(multi=True)
        super().__init__([(clean_text(key), clean_text(value)) for key, value in pairs])


class PortalRequest(Request):
    """Flask's request whose `args`, `form`, `values` and `files` keys are cleaned."""

    parameter_storage_class = CleanMultiDict


class IdConverter(IntegerConverter):
    """`<int:...>` in every route: only 1..MAX_ID (unless a rule asks for other bounds)."""

    def __init__(self, map, fixed_digits=0, min=1, max=MAX_ID, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


class _NoControlCharacters:
    """Mixin for text converters: a segment with a control character does not match."""

    def to_python(self, value):
        if ANY_CONTROL_CHARACTER.search(value):
            raise ValidationError()
        return super().to_python(value)


class TextConverter(_NoControlCharacters, UnicodeConverter):
    """`<name>` and `<string:name>`: one segment without control characters."""


class CleanPathConverter(_NoControlCharacters, PathConverter):
    """`<path:name>`: like Werkzeug's, without control characters."""


def init_app(app):
    """Install the boundary; call before any blueprint adds its rules (converters bind per rule)."""
    app.request_class = PortalRequest
    app.url_map.converters.update(
        default=TextConverter, string=TextConverter, path=CleanPathConverter, int=IdConverter
    )

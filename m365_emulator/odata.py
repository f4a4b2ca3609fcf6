"""The OData query options the emulated directory understands: $filter (a subset), $search,
$select, $orderby, and keyset paging behind opaque $skiptoken keys."""

import re

from .errors import GraphError

ADVANCED_HINT = (
    "is not supported because the required parameters might be missing. Try adding "
    "$count=true query parameter and ConsistencyLevel:eventual header. Refer to "
    "https://aka.ms/graph-docs/advanced-queries for more information"
)
SEARCH_HINT = (
    "Request with $search query parameter only works through MSGraph with a special "
    "request header: 'ConsistencyLevel: eventual'"
)

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|"
    r"(?P<name>[A-Za-z_][\w.]*)|(?P<punct>[(),:/]))"
)


def _tokens(text):
    pos, out = 0, []
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise GraphError(
                400,
                "Request_BadRequest",
                f"Invalid filter clause: syntax error at position {pos} in '{text}'.",
            )
        kind = match.lastgroup
        value = match.group(kind)
        out.append((kind, value[1:-1].replace("''", "'") if kind == "str" else value))
        pos = match.end()
    return out


def _fold(value):
    return value.lower() if isinstance(value, str) else value


class FilterParser:
    """Recursive-descent parser turning a $filter string into a predicate over dicts."""

    def __init__(self, text, filterable, resource):
        self.tokens, self.pos = _tokens(text), 0
        self.filterable, self.resource = filterable, resource
        self.advanced = []  # operators that need ConsistencyLevel + $count

    def parse(self):
        """The predicate; raises GraphError on syntax or unsupported properties."""
        predicate = self._or()
        if self.pos != len(self.tokens):
            raise self._syntax()
        return predicate

    def _syntax(self):
        return GraphError(400, "Request_BadRequest", "Invalid filter clause")

    def _peek(self, offset=0):
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else (None, None)

    def _take(self, kind=None, value=None):
        tok = self._peek()
        if tok[0] is None or (kind and tok[0] != kind) or (value and str(tok[1]).lower() != value):
            raise self._syntax()
        self.pos += 1
        return tok[1]

    def _word(self, value):
        tok = self._peek()
        return tok[0] == "name" and tok[1].lower() == value

    def _or(self):
        left = self._and()
        while self._word("or"):
            self.pos += 1
            right, prev = self._and(), left
            left = (lambda a, b: lambda o: a(o) or b(o))(prev, right)
        return left

    def _and(self):
        left = self._unary()
        while self._word("and"):
            self.pos += 1
            right, prev = self._unary(), left
            left = (lambda a, b: lambda o: a(o) and b(o))(prev, right)
        return left

    def _unary(self):
        if self._word("not"):
            self.pos += 1
            self.advanced.append("not")
            inner = self._unary()
            return lambda o: not inner(o)
        if self._peek() == ("punct", "("):
            self.pos += 1
            inner = self._or()
            self._take("punct", ")")
            return inner
        if self._peek()[0] == "name" and self._peek(1) == ("punct", "("):
            return self._function()
        return self._comparison()

    def _property(self):
        name = self._take("name")
        if name not in self.filterable:
            raise GraphError(
                400,
                "Request_UnsupportedQuery",
                f"Unsupported or invalid query filter clause specified for property "
                f"'{name}' of resource '{self.resource}'.",
            )
        return name

    def _literal(self):
        kind, value = self._peek()
        self.pos += 1
        if kind == "str":
            return value
        if kind == "num":
            return float(value) if "." in value else int(value)
        if kind == "name" and value.lower() in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[value.lower()]
        raise self._syntax()

    def _function(self):
        name = self._take("name").lower()
        if name not in ("startswith", "endswith"):
            raise GraphError(400, "Request_UnsupportedQuery", f"Unsupported function '{name}'.")
        self._take("punct", "(")
        prop = self._property()
        self._take("punct", ",")
        prefix = _fold(self._literal())
        self._take("punct", ")")
        if name == "endswith":
            self.advanced.append("endsWith")
            return lambda o: isinstance(o.get(prop), str) and o[prop].lower().endswith(prefix)
        return lambda o: isinstance(o.get(prop), str) and o[prop].lower().startswith(prefix)

    def _comparison(self):
        prop = self._property()
        if self._peek() == ("punct", "/"):
            return self._any(prop)
        op = self._take("name").lower()
        if op == "in":
            self._take("punct", "(")
            values = [_fold(self._literal())]
            while self._peek() == ("punct", ","):
                self.pos += 1
                values.append(_fold(self._literal()))
            self._take("punct", ")")
            return lambda o: _fold(o.get(prop)) in values
        if op not in ("eq", "ne", "ge", "le", "gt", "lt"):
            raise self._syntax()
        value = _fold(self._literal())
        if op == "ne":
            self.advanced.append("ne")
        return _compare(prop, op, value)

    def _any(self, prop):
        self._take("punct", "/")
        self._take("name", "any")
        self._take("punct", "(")
        var = self._take("name")
        self._take("punct", ":")
        if self._take("name") != var:
            raise self._syntax()
        op = self._take("name").lower()
        value = _fold(self._literal())
        self._take("punct", ")")
        if op not in ("eq", "ne"):
            raise self._syntax()
        if op == "ne":
            self.advanced.append("ne")
        return lambda o: any((_fold(v) == value) == (op == "eq") for v in (o.get(prop) or []))


def _compare(prop, op, value):
    def predicate(obj):
        current = _fold(obj.get(prop))
        if op == "eq":
            return current == value
        if op == "ne":
            return current != value
        if current is None or value is None:
            return False
        return {"ge": current >= value, "le": current <= value, "gt": current > value, "lt": current < value}[
            op
        ]

    return predicate


def parse_filter(text, filterable, resource, advanced_ok):
    """Predicate for a $filter; advanced-only operators need ConsistencyLevel + $count=true."""
    parser = FilterParser(text, filterable, resource)
    predicate = parser.parse()
    if parser.advanced and not advanced_ok:
        raise GraphError(400, "Request_UnsupportedQuery", f"Operator '{parser.advanced[0]}' {ADVANCED_HINT}")
    return predicate


_SEARCH_CLAUSE = re.compile(r'"([A-Za-z]+):([^"]*)"')
_WORDS = re.compile(r"[^\W_]+", re.UNICODE)


def parse_search(text, searchable):
    """Predicate for `$search="prop:term" [AND|OR "prop:term"]...` (tokenised prefix match)."""
    pieces = re.split(r"\s+(AND|OR)\s+", text.strip())
    clauses, ops = pieces[0::2], pieces[1::2]
    preds = []
    for clause in clauses:
        match = _SEARCH_CLAUSE.fullmatch(clause.strip())
        if not match:
            raise GraphError(
                400, "Request_UnsupportedQuery", f"Syntax error: invalid $search clause {clause!r}."
            )
        prop, term = match.group(1), match.group(2).lower()
        if prop not in searchable:
            raise GraphError(400, "Request_UnsupportedQuery", f"Unsupported property '{prop}' in $search.")
        preds.append(_search_term(prop, term))

    def predicate(obj):
        result = preds[0](obj)
        for op, pred in zip(ops, preds[1:], strict=True):
            result = (result and pred(obj)) if op == "AND" else (result or pred(obj))
        return result

    return predicate


def _search_term(prop, term):
    def matches(obj):
        value = obj.get(prop)
        if not isinstance(value, str):
            return False
        value = value.lower()
        return value.startswith(term) or any(w.startswith(term) for w in _WORDS.findall(value))

    return matches


def parse_select(text, allowed, single_only=(), resource="user"):
    """The $select list (id always first); unknown names → 400, single-object-only names → 501."""
    if not text:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        if name in single_only:
            raise GraphError(501, "NotImplemented", "This operation target is not yet supported.")
        if name not in allowed:
            raise GraphError(
                400,
                "Request_BadRequest",
                f"Could not find a property named '{name}' on type 'microsoft.graph.{resource}'.",
            )
    return names


def parse_top(text, default=100, maximum=999):
    """The page size: default 100, 1..999 allowed."""
    if text is None:
        return default
    if not text.isdigit() or not 1 <= int(text) <= maximum:
        raise GraphError(
            400,
            "Request_UnsupportedQuery",
            f"Invalid page size specified: '{text}'. Must be between 1 and {maximum} inclusive.",
        )
    return int(text)


def sort_key_factory(orderby, default_sortable, advanced_ok, has_filter):
    """(key function, reverse) for $orderby; sorting by id when absent."""
    if not orderby:
        return (lambda o: ("", o["id"])), False
    parts = orderby.strip().split()
    prop, direction = parts[0], (parts[1].lower() if len(parts) > 1 else "asc")
    if (prop not in default_sortable or has_filter) and not advanced_ok:
        raise GraphError(400, "Request_UnsupportedQuery", "Sorting not supported for current query.")
    return (
        lambda o: (
            (o.get(prop) or "").lower() if isinstance(o.get(prop) or "", str) else str(o.get(prop)),
            o["id"],
        )
    ), direction == "desc"


def page_after(items, key, last, reverse, top):
    """The `top` items following the keyset position `last` (None: from the start) and the last key."""
    start = 0 if last is None else _position_after(items, key, tuple(last), reverse)
    page = items[start : start + top]
    more = len(items) > start + top
    return page, (list(key(page[-1])) if page and more else None)


def _position_after(items, key, last, reverse):
    """Index of the first item past `last` in `items` sorted by `key` (binary search: pages of a
    large tenant cost the same as the first one)."""
    low, high = 0, len(items)
    while low < high:
        middle = (low + high) // 2
        value = key(items[middle])
        if (value >= last) if reverse else (value <= last):
            low = middle + 1
        else:
            high = middle
    return low

"""SCIM filters as SQL: the `eq` comparisons joined by `and` that Microsoft Entra sends.

    check_length(text)        a filter's length bounded before it is parsed
    user_condition(filter)    a where-clause over Contact (the caller scopes it to the customer)
    group_condition(filter)   a where-clause over ContactGroup
    page(start_index, count)  (offset, limit) with count capped to discovery.MAX_RESULTS

Filters are parsed by scim2-models (SearchRequest[model]'s ScimFilter: its grammar and the attribute
names of the model), once, by the caller; anything else than `eq` and `and` over the attributes
below answers 400 invalidFilter.
"""

from scim2_models import InvalidFilterException
from scim2_models.path import (
    CompareOperator,
    Comparison,
    FilterVisitor,
    LogicalExpr,
    LogicalOperator,
)
from sqlalchemy import and_, false, true

from portal import attributes
from portal.models import Contact, ContactGroup
from portal.scim.discovery import MAX_RESULTS, USER
from portal.text import email_key, name_key

MAX_FILTER_LENGTH = 1000
MAX_TERMS = 10
UNSUPPORTED = "Only eq comparisons joined by and are supported."


def _id(column):
    def condition(value):
        text = str(value)
        return column == int(text) if text.isdigit() and len(text) < 18 else false()

    return condition


def _active(value):
    return Contact.deactivated_at.is_(None) if value is True else Contact.deactivated_at.is_not(None)


# "attribute path" (lower case, enterprise URN included) -> a function of the value giving the condition.
USER_ATTRIBUTES = {
    "id": _id(Contact.id),
    "username": lambda value: Contact.user_name_key == email_key(str(value)),
    "externalid": lambda value: Contact.external_id == str(value),
    "emails.value": lambda value: Contact.email_key == email_key(str(value)),
    "active": _active,
    **{
        a.scim.lower(): (lambda column: lambda value: column == attributes.clean(str(value)))(
            getattr(Contact, a.name)
        )
        for a in attributes.ATTRIBUTES
        if "[" not in a.scim
    },
}
GROUP_ATTRIBUTES = {
    "id": _id(ContactGroup.id),
    "displayname": lambda value: ContactGroup.name_key == name_key(str(value)),
    "externalid": lambda value: ContactGroup.external_id == str(value),
}


def _path(attr_path):
    uri = (attr_path.uri or "").lower()
    name = f"{attr_path.attr}.{attr_path.sub_attr}" if attr_path.sub_attr else attr_path.attr
    return f"{uri}:{name}".lower() if uri and uri != USER.__schema__.lower() else name.lower()


class _Sql(FilterVisitor):
    def __init__(self, known):
        self.known = known
        self.terms = 0

    def visit_comparison(self, node):
        self.terms += 1
        if node.op != CompareOperator.eq or self.terms > MAX_TERMS:
            raise InvalidFilterException(detail=UNSUPPORTED)
        condition = self.known.get(_path(node.attr_path))
        if condition is None:
            raise InvalidFilterException(detail=f"Filtering by {node.attr_path} is not supported.")
        return condition(node.value)

    def visit_logical_expr(self, node):
        if node.op != LogicalOperator.and_:
            raise InvalidFilterException(detail=UNSUPPORTED)
        return and_(*(self.visit(term) for term in node.terms))

    def visit_value_path(self, node):
        """emails[type eq "work" and value eq "x"] (Entra's emails[type eq "work"].value eq "x")."""
        terms = node.val_filter.terms if isinstance(node.val_filter, LogicalExpr) else (node.val_filter,)
        if node.attr_path.attr.lower() != "emails" or not isinstance(
            node.val_filter, LogicalExpr | Comparison
        ):
            raise InvalidFilterException(detail=UNSUPPORTED)
        conditions = []
        for term in terms:
            if not isinstance(term, Comparison) or term.op != CompareOperator.eq:
                raise InvalidFilterException(detail=UNSUPPORTED)
            sub = term.attr_path.attr.lower()
            if sub == "type":
                conditions.append(true() if str(term.value).lower() == "work" else false())
            elif sub == "value":
                conditions.append(USER_ATTRIBUTES["emails.value"](term.value))
            else:
                raise InvalidFilterException(detail=UNSUPPORTED)
        return and_(*conditions)

    def visit_present(self, node):
        raise InvalidFilterException(detail=UNSUPPORTED)

    def visit_not(self, node):
        raise InvalidFilterException(detail=UNSUPPORTED)


def check_length(text):
    """Before a filter is parsed: InvalidFilterException when it is longer than MAX_FILTER_LENGTH."""
    if isinstance(text, str) and len(text) > MAX_FILTER_LENGTH:
        raise InvalidFilterException(detail=f"A filter may have at most {MAX_FILTER_LENGTH} characters.")


def user_condition(parsed):
    """`parsed`: a ScimFilter of the User model (SearchRequest[User]'s filter)."""
    return _Sql(USER_ATTRIBUTES).visit(parsed.ast)


def group_condition(parsed):
    """`parsed`: a ScimFilter of the Group model."""
    return _Sql(GROUP_ATTRIBUTES).visit(parsed.ast)


def page(start_index, count):
    """(offset, limit) of a list request: startIndex is 1-based (less than 1 is 1), count is capped."""
    start = max(start_index or 1, 1)
    limit = MAX_RESULTS if count is None else min(max(count, 0), MAX_RESULTS)
    return start - 1, limit

"""The customer overview: every customer the viewer may see, with the health of its sync.

One statement answers a page: sync.attention.facts_statement for the visible customers
(auth.access), which also says which problems each has. A page of
customers costs that statement and a count, never a query per customer, and sorting happens in
the database, so every page of a sorted list is right.

    OverviewQuery.from_args(request.args)   search text, sort and page, parsed leniently
    overview_page(query)                    -> OverviewPage of CustomerHealth rows
"""

from dataclasses import dataclass
from math import ceil

from sqlalchemy import and_, func, select

from portal.auth import access
from portal.boundary import SortedBy, positive_int, sort_arg
from portal.extensions import db
from portal.models import Customer
from portal.sync import attention

PER_PAGE = 50
# Customers with problems first: what a reseller looks for in the morning.
DEFAULT_SORT = "-problems"
NOT_CONNECTED, CONNECTED, REAUTH_REQUIRED = "not_connected", "connected", "reauth_required"


@dataclass
class OverviewQuery(SortedBy):
    """What the viewer asked for: search text (customer name), sort ("key" or "-key") and page."""

    q: str = ""
    sort: str = DEFAULT_SORT
    page: int = 1

    @classmethod
    def from_args(cls, args):
        """Unknown sorts fall back to the default; a page that is no positive number is the first."""
        sort = sort_arg(args, SORT_KEYS, DEFAULT_SORT)
        page = args.get("page", 1, type=positive_int) or 1
        return cls(q=(args.get("q") or "").strip()[:100], sort=sort, page=page)

    def args(self, **changes):
        """URL args of this query (first page), with `changes` applied (for sort and pager links)."""
        args = {"q": self.q or None, "sort": self.sort}
        args.update(changes)
        return {k: v for k, v in args.items() if v not in (None, "")}


@dataclass
class CustomerHealth:
    """One customer's row: how its sync stands and what needs an admin."""

    id: int
    name: str
    reseller: str
    connection: str  # NOT_CONNECTED, CONNECTED or REAUTH_REQUIRED
    application: bool  # an application-permission connection ("Admin consent required" when broken)
    mode: str  # a SyncMode value
    last_sync: object  # when the last successful sync started, or None
    contacts: int
    held: int
    problems: tuple  # keys of PROBLEMS that apply, in that order


@dataclass
class OverviewPage:
    """One page of the overview; has what templates/_ui.html's page_pager needs."""

    items: list
    page: int
    total: int
    per_page: int = PER_PAGE

    @property
    def pages(self):
        return max(1, ceil(self.total / self.per_page))

    @property
    def has_prev(self):
        return self.page > 1

    @property
    def prev_num(self):
        return self.page - 1

    @property
    def has_next(self):
        return self.page < self.pages

    @property
    def next_num(self):
        return self.page + 1


SORT_KEYS = ("name", "reseller", "connection", "mode", "last_sync", "contacts", "held", "problems")
PROBLEMS = attention.FLAGS


def overview_page(query):
    """The page of visible customers `query` asks for (past the end: the last page)."""
    matching = access.customer_scope()
    if query.q:
        matching = and_(matching, Customer.name.icontains(query.q, autoescape=True))
    total = db.session.scalar(select(func.count()).select_from(Customer).where(matching))
    page = OverviewPage(items=[], page=1, total=total)
    page.page = min(query.page, page.pages)
    statement, order = attention.facts_statement(select(Customer.id).where(access.customer_scope()))
    column = order[query.sort_key]
    primary = column.desc().nulls_last() if query.descending else column.asc().nulls_first()
    rows = db.session.execute(
        statement.where(matching)
        .order_by(primary, Customer.name, Customer.id)
        .limit(PER_PAGE)
        .offset((page.page - 1) * PER_PAGE)
    )
    page.items = [_health(row) for row in rows]
    return page


def _health(row):
    """A CustomerHealth from one row of the statement."""
    return CustomerHealth(
        id=row.id,
        name=row.name,
        reseller=row.reseller,
        connection=(NOT_CONNECTED, CONNECTED, REAUTH_REQUIRED)[row.connection],
        application=bool(row.application),
        mode=row.mode,
        last_sync=row.last_sync,
        contacts=row.contacts,
        held=row.held,
        problems=tuple(key for key in PROBLEMS if getattr(row, key)),
    )

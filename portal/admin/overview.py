"""The customer overview: every customer the viewer may see, with the health of its sync.

One statement answers a page: the visible customers (auth.access) joined to grouped subqueries
(active contacts, held deletions, the sync runs) that are limited to those customers. A page of
customers costs that statement and a count, never a query per customer, and sorting happens in
the database, so every page of a sorted list is right.

    OverviewQuery.from_args(request.args)   search text, sort and page, parsed leniently
    overview_page(query)                    -> OverviewPage of CustomerHealth rows
"""

from dataclasses import dataclass
from math import ceil

from sqlalchemy import and_, case, false, func, not_, or_, select

from portal.auth import access
from portal.boundary import positive_int
from portal.extensions import db
from portal.models import (
    ConnectionStatus,
    Contact,
    Customer,
    M365Connection,
    Reseller,
    SyncMode,
    SyncSettings,
)
from portal.models.sync import HeldRemoval, RunStatus, SyncRun
from portal.sync.service import successful_sync

PER_PAGE = 50
# Customers with problems first: what a reseller looks for in the morning.
DEFAULT_SORT = "-problems"
NOT_CONNECTED, CONNECTED, REAUTH_REQUIRED = "not_connected", "connected", "reauth_required"


@dataclass
class OverviewQuery:
    """What the viewer asked for: search text (customer name), sort ("key" or "-key") and page."""

    q: str = ""
    sort: str = DEFAULT_SORT
    page: int = 1

    @classmethod
    def from_args(cls, args):
        """Unknown sorts fall back to the default; a page that is no positive number is the first."""
        sort = args.get("sort", DEFAULT_SORT)
        if sort.lstrip("-") not in SORT_KEYS:
            sort = DEFAULT_SORT
        page = args.get("page", 1, type=positive_int) or 1
        return cls(q=(args.get("q") or "").strip()[:100], sort=sort, page=page)

    @property
    def sort_key(self):
        return self.sort.lstrip("-")

    @property
    def descending(self):
        return self.sort.startswith("-")

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
PROBLEMS = ("reauth_required", "last_sync_failed", "deletions_held", "sync_inactive", "prerequisite_off")


def overview_page(query):
    """The page of visible customers `query` asks for (past the end: the last page)."""
    matching = access.customer_scope()
    if query.q:
        matching = and_(matching, Customer.name.icontains(query.q, autoescape=True))
    total = db.session.scalar(select(func.count()).select_from(Customer).where(matching))
    page = OverviewPage(items=[], page=1, total=total)
    page.page = min(query.page, page.pages)
    statement, order = _statement()
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


def _statement():
    """(SELECT of every customer's facts and problem flags, {sort key: its column})."""
    contacts, held, runs = _grouped(select(Customer.id).where(access.customer_scope()))
    connected = M365Connection.id.is_not(None)
    reauth = M365Connection.status == ConnectionStatus.REAUTH_REQUIRED.value
    held_count = func.coalesce(held.c.n, 0)
    columns = {
        "connection": case((~connected, 0), (reauth, 2), else_=1),  # not connected, connected, re-auth
        "mode": func.coalesce(SyncSettings.mode, SyncMode.MANUAL.value),
        "last_sync": runs.c.last_ok,
        "contacts": func.coalesce(contacts.c.n, 0),
        "held": held_count,
    }
    flags = _problem_flags(connected, reauth, held_count, runs)
    columns["problems"] = sum(flags.values())
    labelled = {key: expression.label(key) for key, expression in {**columns, **flags}.items()}
    statement = (
        select(Customer.id, Customer.name, Reseller.name.label("reseller"), *labelled.values())
        .select_from(Customer)
        .join(Reseller, Reseller.id == Customer.reseller_id)
        .outerjoin(M365Connection, M365Connection.customer_id == Customer.id)
        .outerjoin(SyncSettings, SyncSettings.customer_id == Customer.id)
        .outerjoin(contacts, contacts.c.customer_id == Customer.id)
        .outerjoin(held, held.c.customer_id == Customer.id)
        .outerjoin(runs, runs.c.customer_id == Customer.id)
    )
    order = {"name": Customer.name, "reseller": Reseller.name, **{k: labelled[k] for k in columns}}
    return statement, order


def _problem_flags(connected, reauth, held_count, runs):
    """{problem: 1 when it applies to the row, else 0}: the one place that says what a problem is."""
    last_failed, last_ok = runs.c.last_failed, runs.c.last_ok
    user_sync_on = func.coalesce(Customer.ms_user_sync, Reseller.ms_user_sync)  # ms_user_sync_in_effect
    conditions = {
        "reauth_required": reauth,
        # The latest sync that finished failed (skipped and running ones do not count).
        "last_sync_failed": and_(last_failed.is_not(None), or_(last_ok.is_(None), last_failed > last_ok)),
        "deletions_held": held_count > 0,
        # Connected, but the daily sync leaves the customer out.
        "sync_inactive": and_(connected, not_(func.coalesce(SyncSettings.sync_active, false()))),
        "prerequisite_off": and_(connected, not_(user_sync_on)),
    }
    return {key: case((conditions[key], 1), else_=0) for key in PROBLEMS}


def _grouped(customer_ids):
    """Active contacts, held deletions and sync runs per customer, for the customers selected."""
    failed = SyncRun.status == RunStatus.FAILED.value
    contacts = (
        select(Contact.customer_id, func.count().label("n"))
        .where(Contact.customer_id.in_(customer_ids), Contact.archived_at.is_(None))
        .group_by(Contact.customer_id)
        .subquery("contacts")
    )
    held = (
        select(HeldRemoval.customer_id, func.count().label("n"))
        .join(HeldRemoval.contact)
        .where(HeldRemoval.customer_id.in_(customer_ids))
        .group_by(HeldRemoval.customer_id)
        .subquery("held")
    )
    runs = (
        select(
            SyncRun.customer_id,
            func.max(case((successful_sync(), SyncRun.started_at))).label("last_ok"),
            func.max(case((failed, SyncRun.started_at))).label("last_failed"),
        )
        .where(SyncRun.customer_id.in_(customer_ids), SyncRun.kind == "sync")
        .group_by(SyncRun.customer_id)
        .subquery("runs")
    )
    return contacts, held, runs


def _health(row):
    """A CustomerHealth from one row of the statement."""
    return CustomerHealth(
        id=row.id,
        name=row.name,
        reseller=row.reseller,
        connection=(NOT_CONNECTED, CONNECTED, REAUTH_REQUIRED)[row.connection],
        mode=row.mode,
        last_sync=row.last_sync,
        contacts=row.contacts,
        held=row.held,
        problems=tuple(key for key in PROBLEMS if getattr(row, key)),
    )

"""An import of many users, planned and written a slice at a time, so memory stays flat.

    outcome = import_in_slices(planner, users, wanted, customer, run)

The plan is the one a single build() over every user would make (portal.sync.plan.ImportPlanner);
each slice of it is written by apply_plan in the caller's transaction, so a failure half-way
still rolls back every slice: the book is as it was.
"""

from dataclasses import dataclass, field

from portal import book
from portal.models.base import chunks
from portal.sync import directory, fetch
from portal.sync.apply import apply_plan

SLICE = 2000  # users planned and written at a time


@dataclass
class ImportOutcome:
    """What an import did: the counts of apply_plan summed over the slices, and the skipped users."""

    counts: dict = field(default_factory=dict)
    skipped: list = field(default_factory=list)

    def add(self, plan, counts):
        for kind, number in counts.items():
            self.counts[kind] = self.counts.get(kind, 0) + number
        self.skipped.extend(plan.skipped)


class ImportUsers:
    """Where an import's users come from: those the admin just loaded in Manual mode from the
    directory cache (no second listing of the tenant), the rest from Graph at once (few; all of
    them when `from_graph`: a delta baseline was taken just now, so the cache predates it)."""

    def __init__(self, customer, client, loaded_after, from_graph):
        self.customer, self.client, self.loaded_after = customer, client, loaded_after
        self.from_graph = from_graph
        self.fetched = {}

    def count_emails(self, user_ids, planner):
        """The first pass: every user's email counted by the planner; the uncached ones fetched."""
        missing = []
        for chunk in slices(user_ids):
            cached = {} if self.from_graph else directory.mailboxes(self.customer, chunk, self.loaded_after)
            planner.count_emails(cached)
            missing.extend(uid for uid in chunk if uid not in cached)
        self.fetched = fetch.fetch_users(self.client, missing)
        planner.count_emails(self.fetched)

    def get(self, user_ids):
        """These users (by id; the ones neither cached nor found in Microsoft are left out)."""
        cached = [uid for uid in user_ids if uid not in self.fetched]
        found = {}
        if cached and not self.from_graph:
            found = directory.graph_users(self.customer, cached, self.loaded_after)
        found.update((uid, self.fetched[uid]) for uid in user_ids if uid in self.fetched)
        return found


def import_in_slices(planner, users, wanted, customer, run):
    """Plan and write the import of `wanted` ((user id, contact group id or None) pairs, distinct
    users) a slice at a time; -> ImportOutcome. The caller commits."""
    user_ids = [uid for uid, _gid in wanted]
    users.count_emails(user_ids, planner)
    outcome = ImportOutcome()
    for chunk in slices([uid for uid in user_ids if not planner.is_new(uid)]):
        plan = planner.present(users.get(chunk))
        outcome.add(plan, apply_plan(plan, customer, run, settle=False))
    for chunk in slices(wanted):
        plan = planner.wanted(users.get([uid for uid, _gid in chunk if planner.is_new(uid)]), chunk)
        outcome.add(plan, apply_plan(plan, customer, run, settle=False))
    book.settle(customer.id, run)
    return outcome


def slices(items):
    """`items` (a list) SLICE at a time."""
    return chunks(items, SLICE)

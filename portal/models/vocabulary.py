"""The sync's words, spelled once: kinds of change, kinds of run, why a contact is removed, why a
user is skipped, and the notes a change carries. The engine (portal.sync) and the web import them
from here.

Each is a StrEnum: a member IS its stored string (it compares equal to it and is written as it),
so existing rows keep their values and a value never changes later. Each member carries its English
label (`message`, N_-marked for the catalogue) and shows it translated through `label`
(lazy_gettext). Templates use the `label` filter: `{{ reason|label(SkipReason) }}`.
"""

import enum

from flask_babel import gettext, lazy_gettext

from portal.i18n import N_


class Labelled(enum.StrEnum):
    """A StrEnum whose members carry an English label, shown translated."""

    def __new__(cls, value, message=None):
        member = str.__new__(cls, value)
        member._value_ = value
        member.message = message or value
        return member

    @property
    def label(self):
        """The label in the current locale (lazy: evaluated where it is shown)."""
        return lazy_gettext(self.message)

    @classmethod
    def label_of(cls, value):
        """The label of a stored `value`; a value no member has (an old row) shown translated as it is."""
        if not value:
            return ""
        try:
            return cls(value).label
        except ValueError:
            return gettext(value)


class ChangeKind(Labelled):
    """What a run did to one contact (SyncChange.kind, the plan's Change.kind), in apply order.

    `plural`: the plan's list of such changes and the key of run counts; `label`: what was done
    (history); `planned_label`: what would be done (preview); `count_label`: the counts' badge.
    """

    def __new__(cls, value, plural, message, planned, counted):
        member = str.__new__(cls, value)
        member._value_, member.message = value, message
        member.plural, member.planned, member.counted = plural, planned, counted
        return member

    CREATE = "create", "creates", N_("Created"), N_("Create"), N_("created")
    LINK = "link", "links", N_("Linked"), N_("Link"), N_("linked")
    RESTORE = "restore", "restores", N_("Restored"), N_("Restore"), N_("restored")
    UPDATE = "update", "updates", N_("Updated"), N_("Update"), N_("updated")
    GROUP_ADD = (
        "group_add",
        "group_adds",
        N_("Added to group"),
        N_("Add to contact group"),
        N_("added to group"),
    )
    REMOVE = "remove", "removals", N_("Removed"), N_("Remove"), N_("removed")
    HOLD = "hold", "holds", N_("Removal held"), N_("Hold removal"), N_("removals held")
    RELEASE = "release", "releases", N_("Hold released"), N_("Release hold"), N_("holds released")
    KEEP = "keep", "kept", N_("Kept"), N_("Keep"), N_("kept")
    SKIP = "skip", "skipped", N_("Skipped"), N_("Skipped"), N_("skipped")
    PRESENT = "present", "present", N_("Already present"), N_("Already present"), N_("already present")
    # A smart group followed a change (portal.smart_groups.refresh): not planned, recorded after the writes.
    GROUP_JOIN = "group_join", "group_joins", N_("Joined smart group"), N_("Join smart group"), N_("joined")
    GROUP_LEAVE = "group_leave", "group_leaves", N_("Left smart group"), N_("Leave smart group"), N_("left")

    @property
    def planned_label(self):
        return lazy_gettext(self.planned)

    @property
    def count_label(self):
        return lazy_gettext(self.counted)

    @property
    def reasons(self):
        """The vocabulary of the reason a change of this kind records (its detail)."""
        if self in (ChangeKind.REMOVE, ChangeKind.HOLD, ChangeKind.KEEP):
            return RemovalReason
        return SkipReason if self is ChangeKind.SKIP else ChangeNote

    @classmethod
    def of_plural(cls, plural):
        """The kind whose plan list / count key is `plural`, or None."""
        return next((kind for kind in cls if kind.plural == plural), None)


# The plan's lists of writes, in the order `apply` writes them (skips and "present" write nothing).
PLANNED_KINDS = tuple(
    kind.plural
    for kind in ChangeKind
    if kind not in (ChangeKind.SKIP, ChangeKind.PRESENT, ChangeKind.GROUP_JOIN, ChangeKind.GROUP_LEAVE)
)


class RunKind(Labelled):
    """What a run was (SyncRun.kind)."""

    SYNC = "sync", N_("Synchronization")
    IMPORT = "import", N_("Import")
    DECISION = "decision", N_("Decision on held deletions")  # "Allow deletions" / "Keep contacts"
    RESTORE = "restore", N_("Restore by an admin")
    EDIT = "edit", N_("Change in the contact book")  # smart groups followed an admin's edit
    PROVISIONING = "provisioning", N_("Entra provisioning (SCIM)")  # a deletion or restore by portal.scim


class RemovalReason(Labelled):
    """Why the sync removes a contact: the delta's @removed reason, or a 404 after a complete listing.

    The label is also what an archived contact keeps as its `archive_reason` (in English).
    """

    SOFT = "deleted", N_("Deleted in Microsoft 365")  # in the M365 recycle bin (restorable there for 30 days)
    HARD = "deleted permanently", N_("Deleted permanently in Microsoft 365")
    MISSING = "not found", N_("No longer found in Microsoft 365")  # absent from a listing, GET -> 404

    @classmethod
    def archive_label(cls, archive_reason):
        """The label of an archived contact's stored archive reason (the English label)."""
        member = next((reason for reason in cls if reason.message == archive_reason), None)
        return member.label if member is not None else (gettext(archive_reason) if archive_reason else "")


class SkipReason(Labelled):
    """Why a user is not imported, or a change not made (stored in English: the value is the label)."""

    # Who is skipped: portal.sync.people.Person.skip_reason, and duplicates across users.
    NO_MAILBOX = N_("no mailbox address")
    INVALID_EMAIL = N_("invalid email address in M365")
    DISABLED = N_("disabled account")
    GUEST = N_("guest")
    DOMAIN = N_("domain not allowed")
    DUPLICATE = N_("duplicate email in M365")
    NO_NAME = N_("name missing")
    # What the plan cannot do (portal.sync.plan).
    NOT_FOUND = N_("not found in Microsoft 365")
    ARCHIVED = N_("a removed contact has this email address")
    EMAIL_TAKEN = N_("another contact has this email address")
    LINKED_ELSEWHERE = N_("the contact with this email is linked to another M365 user")
    EMAIL_NO_MAILBOX = N_("email not updated: no mailbox address in M365")
    EMAIL_INVALID = N_("email not updated: invalid email address in M365")
    EMAIL_DOMAIN = N_("email not updated: domain not allowed")
    EMAIL_CONFLICT = N_("email not updated: another contact has this email address")


class ChangeNote(Labelled):
    """What a change that is neither a removal nor a skip records about itself (its detail)."""

    NAME_MISSING = N_("name missing")  # a create without a name in Microsoft 365
    LINKED_AUTOMATICALLY = N_("linked automatically")
    NOT_LINKED = N_("not linked")  # an import finds a contact with the email while "Link active" is off
    USER_PRESENT = N_("user present in M365")  # a held removal released
    RESTORED = N_("restored by an admin")
    RESTORED_UNLINKED = N_("restored by an admin; unlinked from its M365 user")


def reason_label(reason, kind):
    """The label of the reason (or note) a change of `kind` records."""
    try:
        vocabulary = ChangeKind(kind).reasons
    except ValueError:
        return gettext(reason) if reason else ""
    return vocabulary.label_of(reason)

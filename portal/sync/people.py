"""How an M365 user becomes a contact: the email and name rules, and why a user is skipped.

One place for these rules; manual import and the daily sync both use it.
"""

from dataclasses import dataclass

from portal import attributes, book
from portal.models.tenancy import domain_allowed
from portal.models.vocabulary import SkipReason
from portal.text import email_key, single_line

# Every user has these (never null), so a delta entry in the default form always carries them. An
# entry without them lists only what changed (`Prefer: return=minimal`, or a service that answers
# that way): a property it lacks is unchanged, not cleared.
ALWAYS_SET = ("userPrincipalName", "accountEnabled")


@dataclass(frozen=True)
class Person:
    """An M365 user as the contact book sees it."""

    m365_id: str
    first_name: str
    last_name: str
    email: str | None
    display_name: str
    department: str
    enabled: bool
    guest: bool
    name_missing: bool
    email_invalid: bool = False  # Microsoft's mail is no single valid address (then `email` is None)
    # {attribute name: value} (portal.attributes) for the attributes the Graph user carries.
    attributes: tuple = ()
    # The manager as Microsoft says (a ManagerRef, None: no manager), UNKNOWN when the user object
    # does not say (a delta entry in which the manager did not change).
    manager: object = None

    @property
    def email_key(self):
        return email_key(self.email) if self.email else None

    def skip_reason(self, allowed_domains=()):
        """Why this user is not imported (a SkipReason), or None. Duplicates are found across users,
        elsewhere."""
        if self.email_invalid:
            return SkipReason.INVALID_EMAIL
        if not self.email:
            return SkipReason.NO_MAILBOX
        if not self.enabled:
            return SkipReason.DISABLED
        if self.guest:
            return SkipReason.GUEST
        if not domain_allowed(self.email_key, allowed_domains):
            return SkipReason.DOMAIN
        return None


UNKNOWN = object()


@dataclass(frozen=True)
class ManagerRef:
    """Who a user's manager is: the manager's M365 id, and their name and email as last known."""

    m365_id: str
    name: str = ""
    email: str = ""

    def __str__(self):
        """How the history and the preview show it: "Name <email>", or whichever is known."""
        if self.name and self.email:
            return f"{self.name} <{self.email}>"
        return self.name or self.email or self.m365_id


def manager_of(user):
    """The ManagerRef of a Graph user object's `manager` (None: none), or UNKNOWN when absent.

    The Graph client puts a listing's `$expand=manager` and a delta entry's `manager@delta` into
    `manager`: {"id", "displayName"?, "mail"?} or None."""
    if "manager" not in user:
        return UNKNOWN
    manager = user["manager"]
    if isinstance(manager, str):  # a bare id, as some callers and services give it
        manager = {"id": manager}
    if not manager or not manager.get("id"):
        return None
    return ManagerRef(
        manager["id"],
        attributes.clean(manager.get("displayName")),
        (manager.get("mail") or "").strip()[:254],
    )


def mailbox_address(user):
    """`mail`, else the primary SMTP proxy address (upper-case `SMTP:`), else None. A UPN is not a mailbox."""
    if user.get("mail"):
        return user["mail"].strip()
    for address in user.get("proxyAddresses") or []:
        if address.startswith("SMTP:"):
            return address[5:].strip()
    return None


def split_name(user):
    """(first, last, missing): givenName/surname, else displayName split at the last space.

    Names from Microsoft 365 are free text: each is put on one line (portal.text.single_line).
    """
    first = single_line(user.get("givenName") or "")
    last = single_line(user.get("surname") or "")
    if first or last:
        return first, last, False
    display = single_line(user.get("displayName") or "")
    if not display:
        return "", "", True
    head, _sep, tail = display.rpartition(" ")
    return (head, tail, False) if head else ("", tail, False)


def group_name(group):
    """A Graph group's displayName on one line: it becomes a contact group's name."""
    return single_line(group.get("displayName") or "")


def is_complete(user):
    """True when `user` is a whole Graph user, not a delta entry with only the changed properties."""
    return all(key in user for key in ALWAYS_SET)


def _fill_from_contact(user, current):
    """A delta entry completed with the contact's names/email for the properties it does not carry.

    Only properties that are absent are filled (a property sent as null is a real change). A whole
    user without givenName/surname keeps the displayName rule; one without mail has no mailbox.
    """
    filled = dict(user)
    partial = not is_complete(user)
    if partial or "givenName" in user or "surname" in user:
        filled.setdefault("givenName", current.first_name)
        filled.setdefault("surname", current.last_name)
    if partial and "mail" not in user and "proxyAddresses" not in user:
        filled["mail"] = current.email
    return filled


def _attributes(user, current):
    """The user's attribute values, those it does not carry from `current` (a contact snapshot)."""
    values = attributes.values_from_graph(user)
    if current is not None:
        values = {**dict(current.attributes), **values}
    return tuple(values.items())


def _manager(user, current):
    manager = manager_of(user)
    if manager is UNKNOWN and current is not None:
        return current.manager
    return None if manager is UNKNOWN else manager


def person_from_graph(user, current=None):
    """Build a Person from a Graph user object (any subset of USER_FIELDS).

    `current` (a ContactSnap) is what the book holds for this user; with it, properties a partial
    delta entry leaves out (names, email, attributes, manager) keep the contact's values instead of
    blanking them.
    """
    if current is not None:
        user = _fill_from_contact(user, current)
    first, last, missing = split_name(user)
    upn = user.get("userPrincipalName") or ""
    address = mailbox_address(user)
    # The email rule of every way in (book.valid_address); Microsoft's own spelling is kept.
    valid = address is not None and book.valid_address(address) is not None
    return Person(
        m365_id=user["id"],
        first_name=first,
        last_name=last,
        email=address if valid else None,
        email_invalid=address is not None and not valid,
        display_name=single_line(user.get("displayName") or "") or f"{first} {last}".strip(),
        department=user.get("department") or "",
        enabled=user.get("accountEnabled", True) is not False,
        guest=(user.get("userType") or "").lower() == "guest" or "#ext#" in upn.lower(),
        name_missing=missing,
        attributes=_attributes(user, current),
        manager=_manager(user, current),
    )

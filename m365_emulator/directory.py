"""The tenant's directory: users (active and soft-deleted), groups, memberships, and a change log.

Every mutation appends events to `changes` with an increasing sequence number; delta queries
(delta.py) read the log to answer "what changed since token X". Not thread-safe on its own: the
State lock guards every call.
"""

import copy
import uuid
from dataclasses import dataclass, field

from .schema import GROUP_WRITABLE, MANAGER, USER_WRITABLE

SOFT_DELETE_DAYS = 30


class NotFound(KeyError):
    """No such object (or wrong state for the operation)."""


@dataclass
class Change:
    """One change-log entry. op: create|update|softdelete|harddelete|restore|member_add|member_remove."""

    seq: int
    kind: str  # "user" | "group"
    id: str
    op: str
    props: set = field(default_factory=set)
    member: tuple = None  # (type, id) for membership ops
    before: dict = None  # earlier values a delta needs (the manager id a user had before)


class Directory:
    """In-memory directory built from tenant JSON (see generator.generate_tenant for the shape)."""

    def __init__(self, data):
        self.id = data["id"]
        self.domain = data["domain"]
        self.name = data.get("displayName", data["domain"])
        self.users = {u["id"]: dict(u) for u in data.get("users", [])}
        self.deleted = {u["id"]: dict(u) for u in data.get("deletedUsers", [])}
        self.groups, self.members = {}, {}
        for group in data.get("groups", []):
            group = dict(group)
            self.members[group["id"]] = list(group.pop("members", []))
            self.groups[group["id"]] = group
        self.devices = {d["id"]: dict(d) for d in data.get("devices", [])}
        self.contacts = {c["id"]: dict(c) for c in data.get("orgContacts", [])}
        self.service_principals = {s["id"]: dict(s) for s in data.get("servicePrincipals", [])}
        self.admins = {self._admin_id(a) for a in data.get("admins", [])} - {None}
        self.seq = 0
        self.changes = []
        self.generation = uuid.uuid4().hex

    def _admin_id(self, key):
        user = self.find_user(key)
        return user["id"] if user else None

    def to_json(self):
        """The tenant as JSON-ready data (the format accepted by the constructor)."""
        groups = [dict(g, members=list(self.members.get(g["id"], []))) for g in self.groups.values()]
        return copy.deepcopy(
            {
                "id": self.id,
                "domain": self.domain,
                "displayName": self.name,
                "users": list(self.users.values()),
                "deletedUsers": list(self.deleted.values()),
                "groups": groups,
                "devices": list(self.devices.values()),
                "orgContacts": list(self.contacts.values()),
                "servicePrincipals": list(self.service_principals.values()),
                "admins": sorted(self.admins),
            }
        )

    # -- lookups -----------------------------------------------------------------------------
    def find_user(self, key, deleted=False):
        """Active (or soft-deleted) user by id or UPN, case-insensitive; None if absent."""
        pool = self.deleted if deleted else self.users
        if key in pool:
            return pool[key]
        lowered = str(key).lower()
        for user in pool.values():
            if user["id"] == lowered or user["userPrincipalName"].lower() == lowered:
                return user
        return None

    def lookup(self, object_id):
        """(type, object) of an active directory object, or (None, None)."""
        for kind, pool in (
            ("user", self.users),
            ("group", self.groups),
            ("device", self.devices),
            ("orgContact", self.contacts),
            ("servicePrincipal", self.service_principals),
        ):
            if object_id in pool:
                return kind, pool[object_id]
        return None, None

    def member_ids(self, group_id):
        """Ids of the active direct members of a group."""
        return [m for m in self.members.get(group_id, []) if self.lookup(m)[0]]

    def transitive_member_ids(self, group_id):
        """Flattened members: nested groups themselves plus everything below them (cycle-safe)."""
        seen, order, stack = {group_id}, [], list(reversed(self.member_ids(group_id)))
        while stack:
            member = stack.pop()
            if member in seen:
                continue
            seen.add(member)
            order.append(member)
            if member in self.groups:
                stack.extend(reversed(self.member_ids(member)))
        return order

    def groups_of(self, object_id):
        """Ids of the groups that list `object_id` as a direct member."""
        return [gid for gid, members in self.members.items() if object_id in members]

    # -- change log --------------------------------------------------------------------------
    def _log(self, kind, object_id, op, props=(), member=None, before=None):
        self.seq += 1
        self.changes.append(Change(self.seq, kind, object_id, op, set(props), member, before))

    def changes_since(self, seq):
        """Events after sequence number `seq` (oldest first)."""
        return [c for c in self.changes if c.seq > seq]

    # -- users ---------------------------------------------------------------------------------
    def create_user(self, props):
        """Add a member user; fills id/UPN/defaults; returns it."""
        user = {
            key: None
            for key in (
                "givenName",
                "surname",
                "mail",
                "jobTitle",
                "department",
                "mobilePhone",
                "officeLocation",
                "preferredLanguage",
                "companyName",
                "country",
                "usageLocation",
                "employeeId",
                "employeeType",
                MANAGER,
            )
        }
        user.update(
            {
                "businessPhones": [],
                "otherMails": [],
                "proxyAddresses": [],
                "accountEnabled": True,
                "userType": "Member",
            }
        )
        user.update({k: v for k, v in props.items() if k in USER_WRITABLE})
        user["id"] = props.get("id") or str(uuid.uuid4())
        if props.get(MANAGER):
            user[MANAGER] = self._manager_id(props[MANAGER])
        if not user.get("displayName"):
            user["displayName"] = " ".join(filter(None, [user["givenName"], user["surname"]])) or "New user"
        if not user.get("userPrincipalName"):
            local = "".join(ch for ch in user["displayName"].lower() if ch.isalnum()) or "user"
            user["userPrincipalName"] = f"{local}.{user['id'][:4]}@{self.domain}"
        user.setdefault("mailNickname", user["userPrincipalName"].split("@")[0])
        if user["mail"] and not user["proxyAddresses"]:
            user["proxyAddresses"] = [f"SMTP:{user['mail']}"]
        self.users[user["id"]] = user
        self._log("user", user["id"], "create", user.keys())
        return user

    def update_user(self, key, props):
        """Change properties of an active user; logs only the props whose value changed."""
        user = self.find_user(key)
        if user is None:
            raise NotFound(key)
        changed = {k for k, v in props.items() if k in USER_WRITABLE and user.get(k) != v}
        before = None
        if MANAGER in props:
            manager = self._manager_id(props[MANAGER]) if props[MANAGER] else None
            if manager != user.get(MANAGER):
                before = {MANAGER: user.get(MANAGER)}
                user[MANAGER] = manager
                changed.add(MANAGER)
        for name in changed - {MANAGER}:
            user[name] = props[name]
        if changed:
            self._log("user", user["id"], "update", changed, before=before)
        return user

    def _manager_id(self, key):
        """The id of the active user `key` (id or UPN) names as a manager; NotFound otherwise.
        Cycles are not refused: Entra checks them only loosely, and a client must cope."""
        manager = self.find_user(key)
        if manager is None:
            raise NotFound(key)
        return manager["id"]

    def _drop_reports(self, manager_id):
        """A deleted manager leaves their direct reports without a manager (logged per report)."""
        for user in self.users.values():
            if user.get(MANAGER) == manager_id:
                user[MANAGER] = None
                self._log("user", user["id"], "update", {MANAGER}, before={MANAGER: manager_id})

    def delete_user(self, key, *, hard=False, now=None):
        """Soft-delete (to deleted items) or hard-delete an active or soft-deleted user."""
        user = self.find_user(key) or (self.find_user(key, deleted=True) if hard else None)
        if user is None:
            raise NotFound(key)
        uid = user["id"]
        was_active = self.users.pop(uid, None) is not None
        if was_active:
            for gid in self.groups_of(uid):
                self._log("group", gid, "member_remove", member=("user", uid))
            self._drop_reports(uid)
        if hard:
            self.deleted.pop(uid, None)
            for members in self.members.values():
                if uid in members:
                    members.remove(uid)
            self.admins.discard(uid)
            self._log("user", uid, "harddelete")
        else:
            user["deletedDateTime"] = now
            self.deleted[uid] = user
            self._log("user", uid, "softdelete")
        return user

    def restore_user(self, key):
        """Bring a soft-deleted user back with its memberships."""
        user = self.find_user(key, deleted=True)
        if user is None:
            raise NotFound(key)
        del self.deleted[user["id"]]
        user.pop("deletedDateTime", None)
        self.users[user["id"]] = user
        self._log("user", user["id"], "restore")
        for gid in self.groups_of(user["id"]):
            self._log("group", gid, "member_add", member=("user", user["id"]))
        return user

    def purge_deleted(self, cutoff_iso):
        """Hard-delete users soft-deleted before `cutoff_iso` (ISO strings compare by time)."""
        expired = [u["id"] for u in self.deleted.values() if (u.get("deletedDateTime") or "") < cutoff_iso]
        for uid in expired:
            self.delete_user(uid, hard=True)
        return expired

    # -- groups ---------------------------------------------------------------------------------
    def create_group(self, props, members=()):
        """Add a group with the given Graph properties and member ids."""
        group = {
            "description": None,
            "mail": None,
            "mailEnabled": False,
            "securityEnabled": True,
            "groupTypes": [],
            "resourceProvisioningOptions": [],
            "proxyAddresses": [],
            "membershipRule": None,
            "membershipRuleProcessingState": None,
            "visibility": None,
        }
        group.update({k: v for k, v in props.items() if k in GROUP_WRITABLE})
        group["id"] = props.get("id") or str(uuid.uuid4())
        group.setdefault("displayName", "New group")
        self.groups[group["id"]] = group
        self.members[group["id"]] = []
        self._log("group", group["id"], "create", group.keys())
        for member in members:
            self.add_member(group["id"], member)
        return group

    def update_group(self, group_id, props):
        """Change group properties; logs the changed ones."""
        group = self.groups.get(group_id)
        if group is None:
            raise NotFound(group_id)
        changed = {k for k, v in props.items() if k in GROUP_WRITABLE and group.get(k) != v}
        for name in changed:
            group[name] = props[name]
        if changed:
            self._log("group", group_id, "update", changed)
        return group

    def delete_group(self, group_id):
        """Delete a group: Microsoft 365 groups count as soft-deleted, others as permanent."""
        group = self.groups.pop(group_id, None)
        if group is None:
            raise NotFound(group_id)
        self.members.pop(group_id, None)
        for members in self.members.values():
            if group_id in members:
                members.remove(group_id)
        self._log("group", group_id, "softdelete" if "Unified" in group["groupTypes"] else "harddelete")
        return group

    def add_member(self, group_id, member_id):
        """Add a direct member (user, group, device, contact) to a group."""
        kind, _ = self.lookup(member_id)
        if group_id not in self.groups or kind is None or member_id == group_id:
            raise NotFound(member_id if kind is None else group_id)
        if member_id not in self.members[group_id]:
            self.members[group_id].append(member_id)
            self._log("group", group_id, "member_add", member=(kind, member_id))

    def remove_member(self, group_id, member_id):
        """Remove a direct member from a group."""
        if member_id not in self.members.get(group_id, []):
            raise NotFound(member_id)
        kind = self.lookup(member_id)[0] or "user"
        self.members[group_id].remove(member_id)
        self._log("group", group_id, "member_remove", member=(kind, member_id))

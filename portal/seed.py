"""`flask seed-demo`: a demo reseller, two customers, an admin per role and a few hundred contacts.

Idempotent: everything is looked up by its natural key (name, email) and only created when missing;
existing rows are left exactly as they are, so a second run changes nothing.

Contoso Demo GmbH's contacts live under the M365 emulator's demo tenant domain and partly match its
users (same addresses, some in other letter case), so "Link active" has something to link. Its smart
groups ("Finance", "Munich office", "Team of the CFO") are empty until the demo tenant is imported;
the import fills them.
Tailspin Toys is a customer in trouble, for the customer overview: its connection needs a new
sign-in (so the runner leaves it alone), its last sync failed and three deletions are held.
"""

import random
import unicodedata
from datetime import timedelta

import click
from flask.cli import with_appcontext
from sqlalchemy import func, select

from portal import accounts, links, smart_groups
from portal.extensions import db
from portal.models import (
    AdminUser,
    ConnectionStatus,
    Contact,
    ContactGroup,
    Customer,
    HeldRemoval,
    M365Connection,
    Origin,
    Reseller,
    Role,
    RunStatus,
    SyncMode,
    SyncRun,
    SyncSettings,
    utcnow,
)
from portal.models.vocabulary import RemovalReason
from portal.text import name_key

DEMO_URL = "http://127.0.0.1:5000"
DEMO_PASSWORD = "demo-password-1"
RESELLER = "Demo Reseller"
CONTOSO = "Contoso Demo GmbH"
FABRIKAM = "Fabrikam Ltd"
TAILSPIN = "Tailspin Toys"
TAILSPIN_DOMAIN = "tailspintoys.example"
CONTOSO_DOMAIN = "contosodemo.onmicrosoft.com"
FABRIKAM_DOMAIN = "fabrikam.example"
ADMINS = [  # (email, name, role, tenant)
    ("operator@demo.example", "Olivia Operator", Role.OPERATOR, None),
    ("reseller@demo.example", "Rainer Reseller", Role.RESELLER, RESELLER),
    ("admin@contoso-demo.example", "Clara Contoso", Role.CUSTOMER, CONTOSO),
]

FIRST_DE = [
    "Anna",
    "Lukas",
    "Sophie",
    "Maximilian",
    "Marie",
    "Felix",
    "Lena",
    "Jonas",
    "Laura",
    "Leon",
    "Hannah",
    "Paul",
    "Julia",
    "Tim",
    "Katharina",
    "Jan",
    "Sarah",
    "Niklas",
    "Lisa",
    "Tobias",
    "Sabine",
    "Michael",
    "Petra",
    "Thomas",
    "Claudia",
    "Stefan",
    "Monika",
    "Andreas",
    "Birgit",
    "Matthias",
    "Jürgen",
    "Gülay",
    "Björn",
    "Ömer",
    "Anja",
]
LAST_DE = [
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Krüger",
    "Hofmann",
    "Hartmann",
    "Lange",
    "Schmitt",
    "Werner",
    "Krause",
    "Meier",
    "Lehmann",
    "Köhler",
    "Weiß",
    "Yılmaz",
    "Kaya",
    "Nowak",
]
FIRST_EN = [
    "Oliver",
    "Amelia",
    "George",
    "Isla",
    "Harry",
    "Ava",
    "Jack",
    "Emily",
    "Charlie",
    "Grace",
    "Thomas",
    "Sophia",
    "James",
    "Lily",
    "William",
    "Olivia",
    "Daniel",
    "Chloe",
    "Samuel",
    "Ella",
    "Aoife",
    "Rhys",
    "Priya",
    "Mohammed",
]
LAST_EN = [
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Wood",
    "Jackson",
    "Clarke",
    "O'Connor",
    "Patel",
    "Khan",
    "MacDonald",
]
# "Finance team (manual)": an ordinary group, so that the smart group below can be called "Finance".
CONTOSO_GROUPS = ["Sales", "Finance team (manual)", "IT", "Management", "Warehouse"]
CFO_EMAIL = "lynne.kuehn@contosodemo.onmicrosoft.com"  # the emulator demo tenant's CFO, Lynne Kühn
# Contoso's smart groups: empty until the demo tenant is imported, then book.settle fills them.
CONTOSO_SMART_GROUPS = [
    ("Finance", {"attribute": "department", "operator": "is", "value": "Finance"}),
    ("Munich office", {"attribute": "office", "operator": "is", "value": "Munich"}),
    ("Team of the CFO", {"attribute": "manager", "operator": "indirect", "value": CFO_EMAIL}),
]
FABRIKAM_GROUPS = ["Leeds Office", "Support", "Board"]


def register_cli(app):
    """Add `flask seed-demo` to the app's commands."""
    app.cli.add_command(seed_demo_command)


@click.command("seed-demo")
@with_appcontext
def seed_demo_command():
    """Create the demo reseller, customers, sign-ins and contacts (safe to run again)."""
    created = seed_demo()
    db.session.commit()
    click.echo(summary(created))
    click.echo(sign_in_block())


def seed_demo():
    """Create whatever demo data is missing; return {what: how many were created now}."""
    created = {"resellers": 0, "customers": 0, "admins": 0, "contacts": 0, "groups": 0}
    reseller = _reseller(created)
    contoso = _customer(reseller, CONTOSO, created)
    fabrikam = _customer(reseller, FABRIKAM, created)
    tenants = {None: None, RESELLER: reseller, CONTOSO: contoso}
    for email, name, role, tenant in ADMINS:
        _admin(email, name, role, tenants[tenant], created)
    _contacts(contoso, contoso_people(), CONTOSO_GROUPS, created)
    _smart_groups(contoso, CONTOSO_SMART_GROUPS, created)
    _contacts(fabrikam, fabrikam_people(), FABRIKAM_GROUPS, created)
    _customer_in_trouble(_customer(reseller, TAILSPIN, created), created)
    return created


def _customer_in_trouble(customer, created):
    """Tailspin Toys' M365 contacts, a connection that needs a new sign-in (its notice counted as sent),
    a held sync two days ago, a failed one yesterday and three held deletions. Made once: a
    customer that already has contacts is left as it is."""
    if db.session.scalar(select(Contact.id).where(Contact.customer_id == customer.id).limit(1)):
        return
    now, cid = utcnow(), customer.id
    contacts = []
    for n, (first, last, email, _) in enumerate(
        _generated("tailspin", 25, FIRST_EN, LAST_EN, TAILSPIN_DOMAIN)
    ):
        contacts.append(Contact(customer_id=cid, first_name=first, last_name=last, origin=Origin.M365))
        contacts[-1].set_email(email)
        contacts[-1].m365_user_id = f"tailspin-user-{n}"
    db.session.add_all(contacts)
    db.session.add(
        M365Connection(
            customer_id=cid,
            tenant_id="tailspin-demo-tenant",
            tenant_domain=TAILSPIN_DOMAIN,
            connected_by_name=f"it-admin@{TAILSPIN_DOMAIN}",
            status=ConnectionStatus.REAUTH_REQUIRED,
            status_reason="Microsoft no longer accepts the stored sign-in: the administrator's password "
            "was reset (AADSTS50173). An administrator must sign in again.",
            status_changed_at=now - timedelta(days=1),
            reauth_notified_at=now,
        )
    )
    db.session.add(SyncSettings(customer_id=cid, mode=SyncMode.AUTOMATIC, sync_active=True, changed={}))
    runs = (
        (2, RunStatus.HELD, "3 removals held by the deletion threshold."),
        (1, RunStatus.FAILED, "Microsoft refused the stored sign-in (AADSTS50173). Nothing changed."),
    )
    for days, status, message in runs:
        started = now - timedelta(days=days)
        db.session.add(
            SyncRun(
                customer_id=cid,
                status=status,
                started_at=started,
                finished_at=started,
                counts={},
                message=message,
            )
        )
    db.session.flush()
    for c in contacts[:3]:
        db.session.add(
            HeldRemoval(
                customer_id=cid, contact_id=c.id, m365_user_id=c.m365_user_id, reason=RemovalReason.SOFT
            )
        )
    created["contacts"] += len(contacts)


def _reseller(created):
    reseller = db.session.scalar(select(Reseller).where(Reseller.name == RESELLER))
    if reseller is None:
        reseller = accounts.new_reseller(
            RESELLER,
            street="Musterstraße 1",
            postal_code="10115",
            city="Berlin",
            country="Germany",
            notification_recipients="sync-reports@demo-reseller.example",
            ms_user_sync=True,
        )
        created["resellers"] += 1
    return reseller


def _customer(reseller, name, created):
    customer = db.session.scalar(
        select(Customer).where(Customer.reseller_id == reseller.id, Customer.name == name)
    )
    if customer is None:
        customer = accounts.new_customer(reseller, name)
        created["customers"] += 1
    return customer


def _admin(email, name, role, tenant, created):
    if db.session.scalar(select(AdminUser.id).where(func.lower(AdminUser.email) == email)):
        return
    accounts.new_admin(
        email=email,
        password=DEMO_PASSWORD,
        role=role,
        name=name,
        reseller_id=tenant.id if role == Role.RESELLER else None,
        customer_id=tenant.id if role == Role.CUSTOMER else None,
    )
    created["admins"] += 1


def _contacts(customer, people, group_names, created):
    """Add the people that are not in the customer's book yet; new ones may join one group."""
    groups = {}
    for name in group_names:
        group = db.session.scalar(
            select(ContactGroup).where(ContactGroup.customer_id == customer.id, ContactGroup.name == name)
        )
        if group is None:
            group = ContactGroup(customer_id=customer.id, name=name, origin=Origin.MANUAL)
            db.session.add(group)
            created["groups"] += 1
        groups[name] = group
    existing = set(db.session.scalars(select(Contact.email_key).where(Contact.customer_id == customer.id)))
    rng = random.Random(f"groups:{customer.name}")
    for first, last, email, origin in people:
        pick = rng.random()  # drawn for every person, so group choices do not depend on what exists
        group = group_names[int(pick * 10) % len(group_names)] if pick < 0.6 else None
        if email.lower() in existing:
            continue
        contact = Contact(customer_id=customer.id, first_name=first, last_name=last, origin=origin)
        contact.set_email(email)
        if group:
            contact.groups.append(groups[group])
        db.session.add(contact)
        existing.add(email.lower())
        created["contacts"] += 1


def _smart_groups(customer, rules, created):
    """Add the smart groups whose name is still free (a book seeded before they existed may hold an
    ordinary group of that name, which stays as it is); their members follow at once."""
    for name, condition in rules:
        taken = db.session.scalar(
            select(ContactGroup.id).where(
                ContactGroup.customer_id == customer.id, ContactGroup.name_key == name_key(name)
            )
        )
        if taken is None:
            rule = {"conditions": [condition]}
            db.session.add(ContactGroup(customer_id=customer.id, name=name, origin=Origin.MANUAL, rule=rule))
            created["groups"] += 1
    db.session.flush()
    smart_groups.refresh(customer.id, record=False)


def slug(text):
    """ASCII e-mail local part of a name: 'Jürgen' -> 'juergen', "O'Connor" -> 'oconnor'."""
    for umlaut, plain in (
        ("ä", "ae"),
        ("ö", "oe"),
        ("ü", "ue"),
        ("ß", "ss"),
        ("Ä", "Ae"),
        ("Ö", "Oe"),
        ("Ü", "Ue"),
    ):
        text = text.replace(umlaut, plain)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _generated(seed, count, firsts, lasts, domain, taken=()):
    """`count` deterministic (first, last, email, origin) people with unique addresses."""
    rng = random.Random(seed)
    people, used = [], {t.lower() for t in taken}
    while len(people) < count:
        first, last = rng.choice(firsts), rng.choice(lasts)
        email = f"{slug(first)}.{slug(last)}@{domain}"
        origin = Origin.CSV if rng.random() < 0.6 else Origin.MANUAL
        if email.lower() not in used:
            used.add(email.lower())
            people.append((first, last, email, origin))
    return people


def _m365_demo_users():
    """(first, last, mailbox address) of the emulator demo tenant's enabled members, if it is here."""
    try:  # the emulator is a separate app, present in a checkout but not needed in production
        from m365_emulator.demo import build_demo_tenant
    except ImportError:
        return []
    users = []
    for user in build_demo_tenant()["users"]:
        address = user.get("mail") or next(
            (p[5:] for p in user.get("proxyAddresses") or [] if p.startswith("SMTP:")), None
        )
        if user["userType"] == "Member" and user["accountEnabled"] and address and user.get("givenName"):
            users.append((user["givenName"], user["surname"], address))
    return users


def contoso_people():
    """About 70 contacts that match demo tenant users (some in other letter case) and 130 that don't."""
    tenant_users = [u for u in _m365_demo_users() if not u[2].lower().startswith("admin@")]
    matching = []
    for index, (first, last, address) in enumerate(tenant_users[:140:2]):
        if index % 5 == 0:  # the same mailbox written in other letter case still links
            local, domain = address.split("@", 1)
            address = ".".join(part.capitalize() for part in local.split(".")) + "@" + domain
        matching.append((first, last, address, Origin.CSV if index % 3 else Origin.MANUAL))
    taken = [u[2] for u in tenant_users]
    others = _generated(
        "contoso-demo", 200 - len(matching), FIRST_DE + FIRST_EN, LAST_DE, CONTOSO_DOMAIN, taken
    )
    return matching + others


def fabrikam_people():
    """About 120 contacts of the British customer, none of them in M365."""
    return _generated("fabrikam-demo", 120, FIRST_EN + FIRST_DE[:5], LAST_EN, FABRIKAM_DOMAIN)


def summary(created):
    """One line saying what this run added."""
    if not any(created.values()):
        return "Demo data is already there; nothing changed."
    names = {
        "resellers": ("reseller", "resellers"),
        "customers": ("customer", "customers"),
        "admins": ("admin account", "admin accounts"),
        "contacts": ("contact", "contacts"),
        "groups": ("contact group", "contact groups"),
    }
    parts = [f"{n} {names[what][n != 1]}" for what, n in created.items() if n]
    return "Demo data created: " + ", ".join(parts) + "."


def sign_in_block():
    """The demo sign-ins, ready to copy."""
    rows = [
        ("Operator", ADMINS[0][0], ""),
        ("Reseller admin", ADMINS[1][0], f"({RESELLER})"),
        ("Customer admin", ADMINS[2][0], f"({CONTOSO})"),
    ]
    url = links.portal_url("dashboard.index").rstrip("/") or DEMO_URL  # PORTAL_PORT's, as `make run`
    lines = ["", "=" * 64, f"  Demo sign-ins   {url}", "-" * 64]
    lines += [f"  {role:<16}{email:<30}{note}".rstrip() for role, email, note in rows]
    lines += [f"  {'Password':<16}{DEMO_PASSWORD}   (all three)", "=" * 64, ""]
    return "\n".join(lines)

"""The built-in demo tenant "Contoso Demo" and the demo app registration.

Other parts of the project (portal config, tests, `make run`) rely on these constants; keep them.
"""

import os
import random

from .generator import (
    add_org_attributes,
    department_groups,
    generate_users,
    make_group,
    make_guest,
    make_user,
    new_id,
)

DEMO_CLIENT_ID = "4b1d7c2e-5f3a-4e8b-9c61-0d2f7a9e3b10"
DEMO_CLIENT_SECRET = "demo-client-secret"
# The portal of `make run` (PORTAL_PORT, default 5000: deploy/dev-run.sh sets it for both processes).
_PORTAL_PORT = os.environ.get("PORTAL_PORT") or "5000"
DEMO_REDIRECT_URIS = [
    f"http://127.0.0.1:{_PORTAL_PORT}/m365/callback",
    f"http://localhost:{_PORTAL_PORT}/m365/callback",
]
DEMO_TENANT_ID = "9e3c5a71-2b8d-4f60-a1c4-7d5e2f8b6c03"
DEMO_TENANT_DOMAIN = "contosodemo.onmicrosoft.com"
DEMO_TENANT_NAME = "Contoso Demo"
DEMO_ADMIN_UPN = "admin@contosodemo.onmicrosoft.com"
DEMO_USER_UPN = "adele.vance@contosodemo.onmicrosoft.com"
DEMO_SEED = 20240601
DEMO_USER_COUNT = 300

# Application permissions the demo app registration asks for (what `.default` means).
DEMO_APP_PERMISSIONS = ["User.Read.All", "GroupMember.Read.All"]


def demo_app():
    """The demo app registration (multi-tenant web app with a client secret)."""
    return {
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "redirect_uris": list(DEMO_REDIRECT_URIS),
        "display_name": "Contact Book Portal (demo)",
        "permissions": list(DEMO_APP_PERMISSIONS),
    }


def _special_users(rng, domain):
    """Hand-made accounts every demo and test can count on."""
    admin = make_user(
        rng, domain, "Demo", "Administrator", local="admin", department="IT", job_title="Global Administrator"
    )
    it_admin = make_user(rng, domain, "Isaiah", "Langer", department="IT", job_title="IT Manager")
    return [
        admin,
        it_admin,
        make_user(rng, domain, "Adele", "Vance", department="Sales", job_title="Account Executive"),
        make_user(rng, domain, "Jürgen", "Müller", department="Sales", job_title="Sales Manager"),
        make_user(rng, domain, "Siobhán", "O'Brien", department="Marketing", job_title="Brand Manager"),
        make_user(rng, domain, "Günther", "Groß", department="Operations", job_title="Buyer", mail="proxy"),
        make_user(
            rng,
            domain,
            "Nestor",
            "Wilke",
            department="Operations",
            job_title="Logistics Coordinator",
            mail="none",
        ),
        make_user(
            rng, domain, "Lars", "Lindqvist", department="Sales", job_title="Sales Assistant", enabled=False
        ),
        make_guest(rng, domain, "María", "García", "fabrikam.com"),
        make_guest(rng, domain, "Tom", "Smith", "gmail.com", accepted=False),
    ]


def _extra_groups(rng, domain, users, dept_groups):
    """The non-department groups: every kind, nesting, a device and an org contact as members."""
    by_upn = {u["userPrincipalName"].split("@")[0]: u["id"] for u in users}
    members = [u for u in users if u["userType"] == "Member"]
    everyone = make_group(rng, domain, "All Company", "team", description="Everyone at Contoso")
    everyone["members"] = [u["id"] for u in members]
    sales = make_group(rng, domain, "Sales Team", "team", description="Sales people and partners")
    sales["members"] = [u["id"] for u in users if u.get("department") == "Sales"]
    sales["members"].append(by_upn["maria.garcia_fabrikam.com#EXT#"])
    phoenix = make_group(rng, domain, "Project Phoenix", "m365", description="No Team attached")
    phoenix["members"] = [u["id"] for u in rng.sample(members, 12)]
    leadership = make_group(rng, domain, "Leadership", "mail-security")
    leadership["members"] = [by_upn["admin"], by_upn["isaiah.langer"], by_upn["juergen.mueller"]]
    newsletter = make_group(rng, domain, "Newsletter Recipients", "distribution")
    newsletter["members"] = [u["id"] for u in rng.sample(members, 20)]
    berlin = make_group(rng, domain, "Berlin Office", "dynamic", rule='(user.officeLocation -eq "Berlin")')
    berlin["members"] = [u["id"] for u in users if u.get("officeLocation") == "Berlin"]
    all_depts = make_group(
        rng,
        domain,
        "All Departments",
        "security",
        description="Nested: every department group and Leadership",
    )
    all_depts["members"] = [g["id"] for g in dept_groups] + [leadership["id"]]
    rooms = make_group(rng, domain, "Meeting Rooms", "security", description="Devices")
    device = {
        "id": new_id(rng),
        "displayName": "MEETINGROOM-BER-01",
        "deviceId": new_id(rng),
        "operatingSystem": "Windows",
        "accountEnabled": True,
    }
    contact = {
        "id": new_id(rng),
        "displayName": "Peter Extern",
        "givenName": "Peter",
        "surname": "Extern",
        "mail": "peter.extern@lieferant.example",
    }
    rooms["members"] = [device["id"], by_upn["nestor.wilke"]]
    newsletter["members"].append(contact["id"])
    groups = [everyone, sales, phoenix, leadership, newsletter, berlin, all_depts, rooms]
    return groups, [device], [contact]


def build_demo_tenant():
    """The Contoso Demo tenant as plain JSON-ready data (deterministic)."""
    rng = random.Random(DEMO_SEED)
    domain = DEMO_TENANT_DOMAIN
    special = _special_users(rng, domain)
    taken = {u["userPrincipalName"].lower() for u in special}
    users = special + generate_users(rng, domain, DEMO_USER_COUNT - len(special), taken)
    dept_groups = department_groups(rng, domain, users)
    extra, devices, contacts = _extra_groups(rng, domain, users, dept_groups)
    add_org_attributes(users, f"org:{DEMO_SEED}", DEMO_TENANT_NAME)
    return {
        "id": DEMO_TENANT_ID,
        "domain": domain,
        "displayName": DEMO_TENANT_NAME,
        "users": users,
        "deletedUsers": [],
        "groups": extra + dept_groups,
        "devices": devices,
        "orgContacts": contacts,
        "admins": [special[0]["id"], special[1]["id"]],
        "apps": [],
        "grants": {},
    }

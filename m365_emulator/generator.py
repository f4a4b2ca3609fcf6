"""Deterministic tenant data: users, groups, a device and an org contact.

`generate_tenant(n, seed)` builds the `generated:N` tenants; the demo tenant (demo.py) starts from
the same generator and adds hand-made accounts. Everything is derived from one `random.Random(seed)`,
so the same (n, seed) always yields the same ids and names.
"""

import random
import unicodedata
import uuid

FIRST_NAMES = [
    "Adele",
    "Alex",
    "Allan",
    "Ben",
    "Carla",
    "Christie",
    "Diego",
    "Emily",
    "Enrico",
    "Fatima",
    "Grady",
    "Hana",
    "Henrietta",
    "Isaiah",
    "Jana",
    "Johanna",
    "Joni",
    "Jörg",
    "Kai",
    "Lee",
    "Lidia",
    "Lynne",
    "Megan",
    "Miriam",
    "Nestor",
    "Noah",
    "Olga",
    "Patti",
    "Pradeep",
    "Renée",
    "Sören",
    "Tomás",
    "Ulrike",
    "Zoë",
    "Élodie",
    "Björn",
    "Chloé",
    "Dmitri",
    "Ingrid",
    "Mateo",
]
LAST_NAMES = [
    "Vance",
    "Wilber",
    "Deyoung",
    "Walker",
    "Eriksen",
    "Cline",
    "Siciliani",
    "Braun",
    "Rossi",
    "Haddad",
    "Archie",
    "Tanaka",
    "Gerhart",
    "Henderson",
    "Novak",
    "Lindqvist",
    "Mitchell",
    "Fonseca",
    "Becker",
    "Gonzales",
    "Holloway",
    "Valdez",
    "Bowen",
    "Caron",
    "Wilke",
    "Johnson",
    "Petrov",
    "Fernandes",
    "Groß",
    "Kühn",
    "Nakamura",
    "Ødegaard",
    "D'Angelo",
    "O'Neill",
    "Schäfer",
]
DEPARTMENTS = {
    "Sales": ["Account Executive", "Sales Manager", "Sales Assistant"],
    "Marketing": ["Marketing Specialist", "Brand Manager", "Content Writer"],
    "Finance": ["Accountant", "Controller", "Financial Analyst"],
    "Human Resources": ["HR Generalist", "Recruiter", "HR Manager"],
    "IT": ["System Administrator", "Developer", "IT Manager", "Helpdesk Agent"],
    "Operations": ["Operations Manager", "Logistics Coordinator", "Buyer"],
    "Legal": ["Legal Counsel", "Paralegal"],
    "Research & Development": ["Engineer", "Product Manager", "Researcher"],
}
# officeLocation draws (one rng.choice each, so the list's length must stay 6: ids depend on it).
OFFICES = ["Berlin", "Munich", "Paris", "Vienna", "London", "Seattle"]
# office -> (country, usageLocation, preferredLanguage)
OFFICE_COUNTRIES = {
    "Berlin": ("Germany", "DE", "de-DE"),
    "Munich": ("Germany", "DE", "de-DE"),
    "Paris": ("France", "FR", "fr-FR"),
    "Vienna": ("Austria", "AT", "de-AT"),
    "London": ("United Kingdom", "GB", "en-GB"),
    "Seattle": ("United States", "US", "en-US"),
}
# The title whose holders lead a department's teams; the first one heads the department.
LEAD_TITLES = {
    "Sales": "Sales Manager",
    "Marketing": "Brand Manager",
    "Finance": "Controller",
    "Human Resources": "HR Manager",
    "IT": "IT Manager",
    "Operations": "Operations Manager",
    "Legal": "Legal Counsel",
    "Research & Development": "Product Manager",
}
HEADQUARTERS = "Munich"  # the CEO's office (not Berlin: the demo's dynamic Berlin Office group)
TEAM_SPAN = 8  # leads under one lead: the leads of a department form a tree of this fan-out
GUEST_DOMAINS = ["fabrikam.com", "gmail.com", "adatum.com", "outlook.com"]
CREATED = "2021-03-01T08:00:00Z"


def ascii_slug(text):
    """Lower-case ASCII form of a name part for UPNs: 'Jörg' -> 'joerg', "O'Neill" -> 'oneill'."""
    text = text.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")
    text = text.replace("Ä", "Ae").replace("Ö", "Oe").replace("Ü", "Ue").replace("Ø", "O")
    text = text.replace("ø", "o")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in text.lower() if ch.isalnum())


def new_id(rng):
    """A GUID drawn from `rng` (deterministic)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def make_user(
    rng, domain, given, surname, *, department=None, job_title=None, local=None, mail="primary", enabled=True
):
    """One member user. `mail`: 'primary' (mail + SMTP:), 'proxy' (mail null, SMTP: only), 'none'."""
    local = local or f"{ascii_slug(given)}.{ascii_slug(surname)}"
    upn = f"{local}@{domain}"
    address = upn
    return {
        "id": new_id(rng),
        "displayName": f"{given} {surname}",
        "givenName": given,
        "surname": surname,
        "userPrincipalName": upn,
        "mail": address if mail == "primary" else None,
        "mailNickname": local,
        "proxyAddresses": [f"SMTP:{address}"] if mail in ("primary", "proxy") else [],
        "otherMails": [],
        "accountEnabled": enabled,
        "userType": "Member",
        "department": department,
        "jobTitle": job_title,
        "businessPhones": [f"+49 30 {rng.randint(1000000, 9999999)}"] if rng.random() < 0.7 else [],
        "mobilePhone": None,
        "officeLocation": rng.choice(OFFICES) if department else None,
        "preferredLanguage": rng.choice(["de-DE", "en-US", "en-GB", None]),
        "createdDateTime": CREATED,
        "creationType": None,
        "externalUserState": None,
    }


def make_guest(rng, domain, given, surname, external_domain, *, accepted=True):
    """A B2B guest: UPN `{local}_{domain}#EXT#@tenant`, mail = the external address."""
    external = f"{ascii_slug(given)}.{ascii_slug(surname)}@{external_domain}"
    mangled = external.replace("@", "_")
    user = make_user(rng, domain, given, surname, local=f"{mangled}#EXT#", mail="none")
    user.update(
        {
            "mail": external,
            "mailNickname": f"{mangled}#EXT#",
            "proxyAddresses": [f"SMTP:{external}"],
            "otherMails": [external],
            "userType": "Guest",
            "creationType": "Invitation",
            "externalUserState": "Accepted" if accepted else "PendingAcceptance",
            "businessPhones": [],
            "officeLocation": None,
        }
    )
    return user


def generate_users(rng, domain, count, taken=()):
    """`count` users with the realities a sync meets (null mail, guests, disabled accounts)."""
    users, used = [], set(taken)
    while len(users) < count:
        given, surname = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        roll = rng.random()
        if roll < 0.05:
            user = make_guest(
                rng, domain, given, surname, rng.choice(GUEST_DOMAINS), accepted=rng.random() < 0.8
            )
        else:
            dept = rng.choice(list(DEPARTMENTS)) if rng.random() < 0.93 else None
            title = rng.choice(DEPARTMENTS[dept]) if dept else None
            mail = "primary" if roll >= 0.13 else ("proxy" if roll < 0.09 else "none")
            user = make_user(
                rng,
                domain,
                given,
                surname,
                department=dept,
                job_title=title,
                mail=mail,
                enabled=rng.random() >= 0.04,
            )
        local = user["userPrincipalName"].split("@")[0]
        n = 2
        while user["userPrincipalName"].lower() in used:
            user = _renumber(user, local, n, domain)
            n += 1
        used.add(user["userPrincipalName"].lower())
        users.append(user)
    return users


def _renumber(user, local, n, domain):
    """Give a duplicate-named user a numbered UPN/mail (anna.becker2@...)."""
    if user["userType"] == "Guest":
        head, tail = local.split("_", 1)
        local2 = f"{head}{n}_{tail}"
    else:
        local2 = f"{local}{n}"
    user = dict(user, userPrincipalName=f"{local2}@{domain}", mailNickname=local2)
    if user["userType"] == "Member":
        address = user["userPrincipalName"]
        user["mail"] = address if user["mail"] else None
        user["proxyAddresses"] = [f"SMTP:{address}"] if user["proxyAddresses"] else []
    return user


def add_org_attributes(users, seed, company):
    """Company, country, usage location, language, employee id/type and a manager tree for
    `users`, in place, in one pass (fine for 100,000 users).

    Draws from its own `random.Random(seed)`, so the ids, names and order the tenant's main
    generator made stay what they were. The tree: a CEO (the first enabled member without a
    department) at the top; in each department the holders of its lead title (LEAD_TITLES) form a
    tree of fan-out TEAM_SPAN under the first of them, who reports to the CEO (Finance's is the
    CFO); everybody else in the department reports to one of those leads. Members without a
    department other than the CEO, and guests, have no manager. Parents always come before their
    reports in the lead lists, so there are no cycles."""
    rng = random.Random(seed)
    members = [u for u in users if u["userType"] == "Member"]
    for number, user in enumerate(members, start=1):
        _member_attributes(rng, user, number, company)
    for user in users:
        if user["userType"] == "Guest":
            user.update(companyName=None, country=None, usageLocation=None, employeeId=None)
            user.update(employeeType=None, manager=None)
    ceo = next((u for u in members if u["accountEnabled"] and not u["department"]), None)
    ceo = ceo or (members[0] if members else None)
    if ceo is None:
        return
    country, usage, language = OFFICE_COUNTRIES[HEADQUARTERS]
    ceo.update(jobTitle="Chief Executive Officer", employeeType="Employee", officeLocation=HEADQUARTERS)
    ceo.update(country=country, usageLocation=usage, preferredLanguage=language)
    by_dept = {}
    for user in members:
        if user is not ceo and user["department"]:
            by_dept.setdefault(user["department"], []).append(user)
    for dept, people in by_dept.items():
        _department_tree(dept, people, ceo)


def _member_attributes(rng, user, number, company):
    office = OFFICE_COUNTRIES.get(user.get("officeLocation"))
    country, usage, language = office or (None, "DE", user.get("preferredLanguage"))
    if rng.random() < 0.15:
        country = None  # only the usage location set, as in many real tenants
    contractor = rng.random() < 0.1
    user.update(
        companyName=company,
        country=country,
        usageLocation=usage,
        preferredLanguage=language,
        employeeId=f"{'C' if contractor else 'E'}{number:06d}",
        employeeType="Contractor" if contractor else "Employee",
        manager=None,
    )


def _department_tree(dept, people, ceo):
    lead_title = LEAD_TITLES.get(dept)
    leads = [u for u in people if u["jobTitle"] == lead_title]
    head = next((u for u in leads if u["accountEnabled"]), None) or (leads or people)[0]
    leads = [head] + [u for u in leads if u is not head]
    head.update(manager=ceo["id"], employeeType="Employee")
    if dept == "Finance":
        head["jobTitle"] = "Chief Financial Officer"
    for index, lead in enumerate(leads[1:], start=1):
        lead["manager"] = leads[(index - 1) // TEAM_SPAN]["id"]
    others = [u for u in people if u["manager"] is None and u is not head]
    for index, user in enumerate(others):
        user["manager"] = leads[index % len(leads)]["id"]


def make_group(rng, domain, name, kind, *, description=None, rule=None):
    """A group of `kind`: m365, team, security, mail-security, distribution, dynamic."""
    nickname = ascii_slug(name) or "group"
    mail_enabled = kind in ("m365", "team", "mail-security", "distribution")
    return {
        "id": new_id(rng),
        "displayName": name,
        "description": description,
        "mail": f"{nickname}@{domain}" if mail_enabled else None,
        "mailEnabled": mail_enabled,
        "mailNickname": nickname,
        "securityEnabled": kind in ("security", "mail-security", "dynamic", "m365"),
        "groupTypes": {"m365": ["Unified"], "team": ["Unified"], "dynamic": ["DynamicMembership"]}.get(
            kind, []
        ),
        "resourceProvisioningOptions": ["Team"] if kind == "team" else [],
        "membershipRule": rule,
        "membershipRuleProcessingState": "On" if rule else None,
        "visibility": "Private" if kind in ("m365", "team") else None,
        "proxyAddresses": [f"SMTP:{nickname}@{domain}"] if mail_enabled else [],
        "createdDateTime": CREATED,
        "members": [],
    }


def department_groups(rng, domain, users):
    """One security group per department plus its members; returns the groups."""
    groups = []
    for dept in DEPARTMENTS:
        group = make_group(rng, domain, f"Dept - {dept}", "security", description=f"Everyone in {dept}")
        group["members"] = [u["id"] for u in users if u.get("department") == dept]
        groups.append(group)
    return groups


def generate_tenant(n, seed=1, *, domain=None, name=None):
    """A `generated:N` tenant: N users, groups scaled to the size, one device and one contact."""
    rng = random.Random(f"generated:{n}:{seed}")
    tid = new_id(rng)
    domain = domain or f"gen{n}s{seed}.onmicrosoft.com"
    admin = make_user(
        rng,
        domain,
        "Tenant",
        "Administrator",
        local="admin",
        department="IT",
        job_title="Global Administrator",
    )
    users = [admin] + generate_users(rng, domain, max(0, n - 1), taken={admin["userPrincipalName"]})
    groups = department_groups(rng, domain, users)
    everyone = make_group(rng, domain, "All Company", "m365", description="Everyone")
    everyone["members"] = [u["id"] for u in users if u["userType"] == "Member"]
    groups.append(everyone)
    kinds = ["team", "m365", "distribution", "mail-security", "security", "dynamic"]
    for i in range(max(6, n // 100)):
        kind = kinds[i % len(kinds)]
        group = make_group(rng, domain, f"Project {i + 1:03d}", kind)
        group["members"] = [u["id"] for u in rng.sample(users, min(len(users), rng.randint(3, 40)))]
        groups.append(group)
    device = {
        "id": new_id(rng),
        "displayName": "MEETINGROOM-PC-01",
        "deviceId": new_id(rng),
        "operatingSystem": "Windows",
        "accountEnabled": True,
    }
    contact = {
        "id": new_id(rng),
        "displayName": "External Auditor",
        "givenName": "External",
        "surname": "Auditor",
        "mail": "auditor@audit-partners.example",
    }
    groups[-1]["members"] += [device["id"], contact["id"]]
    name = name or f"Generated {n}"
    add_org_attributes(users, f"org:generated:{n}:{seed}", name)
    return {
        "id": tid,
        "domain": domain,
        "displayName": name,
        "users": users,
        "deletedUsers": [],
        "groups": groups,
        "devices": [device],
        "orgContacts": [contact],
        "admins": [admin["id"]],
        "apps": [],
        "grants": {},
    }

"""An automated WCAG 2.1 A/AA audit (axe-core, vendored in tests/e2e/vendor) of every page, in a real
browser, with data on them: each role's pages, English and German, the problems on the start page,
a removed contact, a held removal, an error page. A page with a violation fails with its rule, the
elements and what axe says to fix."""

import json
from pathlib import Path

import pytest

from portal import smart_groups
from portal.extensions import db
from portal.models import ContactGroup, ScimActivity, utcnow
from portal.models.sync import SyncRun
from portal.scim import tokens as scim_tokens
from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in
from tests.factories import add_contact, hold_removal, removed_by_sync

pytestmark = pytest.mark.e2e

AXE = (Path(__file__).parent / "vendor" / "axe-4.14.1.min.js").read_text(encoding="utf-8")
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

CUSTOMER_PAGES = [
    "/",
    "/contacts/",
    "/contacts/new",
    "/contacts/groups",
    "/contacts/groups/smart/new",
    "/contacts/removed",
    "/contacts/import",
    "/m365/",
    "/m365/manual/",
    "/m365/automatic/",
    "/m365/end",
    "/provisioning/",
    "/provisioning/source",
    "/sync/history",
    "/sync/held",
    "/sync/preview",
    "/notifications/",
    "/admin/accounts",
    "/admin/accounts/new",
    "/masterdata/customer",
    "/no-such-page",
]
RESELLER_PAGES = [
    "/admin/overview",
    "/admin/customers",
    "/admin/customers/new",
    "/masterdata/resellers",
    "/masterdata/resellers/new",
]


def audit(page, path):
    """axe's WCAG A/AA violations of the page at `path`, as readable lines."""
    page.goto(path)
    page.wait_for_load_state("networkidle")
    page.evaluate(AXE)  # through the devtools protocol: the page keeps its Content-Security-Policy
    result = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG
    )
    return [
        f"{path}: {violation['id']} ({violation['impact']}) {violation['help']} — "
        + json.dumps([node["target"] for node in violation["nodes"]][:5])
        for violation in result["violations"]
    ]


@pytest.fixture
def lived_in(world):
    """Acme with contacts, a smart group, a removed one, held removals and a failed sync: every part of a
    page shows."""
    for number in range(3):
        add_contact(
            world.acme,
            f"person{number}@acme.example",
            first="Person",
            last=f"Number {number}",
            department="Finance" if number else "Sales",
        )
    rule = {"conditions": [{"attribute": "department", "operator": "is", "value": "Finance"}]}
    world.smart = ContactGroup(customer_id=world.acme.id, name="Finance", rule=rule)
    db.session.add(world.smart)
    db.session.flush()
    smart_groups.refresh(world.acme.id, record=False)
    removed_by_sync(world.acme, "juergen.mueller@acme.example", first="Jürgen", last="Müller", days_ago=2)
    hold_removal(world.acme.id, "held@acme.example")
    failed = SyncRun(customer_id=world.acme.id, kind="sync", trigger="daily", status="failed", counts={})
    failed.message = "Microsoft Graph answered 503 three times."
    db.session.add(failed)
    world.scim_token, _secret = scim_tokens.create(world.acme, "Entra", "alice@acme.example")
    db.session.add(ScimActivity(customer_id=world.acme.id, method="PATCH", operation="disable", status=200))
    gone = {"first": "Gil", "last": "Gone", "origin": "scim", "deactivated_at": utcnow()}
    add_contact(world.acme, "gone@acme.example", **gone)  # disabled by Entra: marked inactive
    db.session.commit()
    return world


@pytest.mark.parametrize("language", ["en", "de"])
def test_customer_admin_pages_have_no_wcag_violations(browser, live_server, lived_in, language):
    context = browser.new_context(base_url=live_server.url, locale=language)
    page = context.new_page()
    try:
        violations = audit(page, "/login")
        sign_in(page, "alice@acme.example", PASSWORD) if language == "en" else _sign_in_de(page)
        smart = f"/contacts/groups/{lived_in.smart.id}"
        revoke = f"/provisioning/tokens/{lived_in.scim_token.id}/revoke"
        for path in [*CUSTOMER_PAGES, smart, f"{smart}/rule", revoke]:
            violations += audit(page, path)
    finally:
        context.close()
    assert violations == [], "\n".join(violations)


def test_reseller_and_operator_pages_have_no_wcag_violations(browser, live_server, lived_in):
    violations = []
    for email in ("rita@northwind.example", "olga@operator.example"):
        context = browser.new_context(base_url=live_server.url)
        page = context.new_page()
        try:
            sign_in(page, email, PASSWORD)
            for path in RESELLER_PAGES:
                violations += audit(page, path)
        finally:
            context.close()
    assert violations == [], "\n".join(violations)


def _sign_in_de(page):
    page.goto("/login")
    page.get_by_label("E-Mail").fill("alice@acme.example")
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(lambda url: "/login" not in url)

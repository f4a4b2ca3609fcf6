"""The customer overview: every customer's sync health for resellers and operators, within their tenants."""

import html
import re
from datetime import timedelta

from sqlalchemy import event, select

from portal.extensions import db
from portal.models import AdminUser, Contact, Customer, M365Connection, SyncSettings, utcnow
from portal.models.sync import HeldRemoval, SyncRun
from portal.seed import seed_demo
from tests.catalogue import ensure_compiled

URL = "/admin/overview"


def _connect(customer, status="ok", mode="manual", sync_active=True, connection_type="delegated"):
    db.session.add(
        M365Connection(
            customer_id=customer.id,
            tenant_id=f"tenant-{customer.id}",
            tenant_domain=f"c{customer.id}.onmicrosoft.com",
            refresh_token_encrypted="ciphertext",
            status=status,
            connection_type=connection_type,
        )
    )
    db.session.add(SyncSettings(customer_id=customer.id, mode=mode, sync_active=sync_active, changed={}))


def _run(customer, status, hours_ago):
    started = utcnow() - timedelta(hours=hours_ago)
    db.session.add(
        SyncRun(
            customer_id=customer.id,
            kind="sync",
            status=status,
            started_at=started,
            finished_at=started + timedelta(minutes=1),
        )
    )


def _contacts(customer, count, archived=0):
    made = []
    for n in range(count + archived):
        contact = Contact(customer_id=customer.id, first_name="P", last_name=f"Person {n}")
        contact.set_email(f"p{n}@c{customer.id}.example")
        contact.archived_at = utcnow() if n >= count else None
        made.append(contact)
    db.session.add_all(made)
    db.session.flush()
    return made


def _hold(customer, contacts):
    db.session.add_all(HeldRemoval(customer_id=customer.id, contact_id=c.id) for c in contacts)


def _rows(page):
    """{customer name: the text of its row} of the overview table, in the order shown."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        cells = [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in cells]
        rows[cells[0]] = cells[1:]
    return rows


def _acme_and_globex_in_trouble(world):
    """Acme: connected, Automatic, 3 active contacts (1 archived), 2 held, last sync failed.
    Globex: re-authentication required, Manual, synced successfully an hour ago."""
    _connect(world.acme, mode="automatic")
    made = _contacts(world.acme, 3, archived=1)
    _hold(world.acme, made[:2])
    _run(world.acme, "succeeded", hours_ago=30)
    _run(world.acme, "failed", hours_ago=5)
    _run(world.acme, "skipped", hours_ago=2)  # a skip is no verdict on the sync
    _connect(world.globex, status="reauth_required")
    _run(world.globex, "held", hours_ago=1)
    _connect(world.initech)
    world.northwind.ms_user_sync = True
    db.session.commit()


def test_reseller_sees_each_customers_sync_health_and_no_other_resellers_customers(rita_client, world):
    _acme_and_globex_in_trouble(world)
    page = rita_client.get(URL).get_data(as_text=True)
    rows = _rows(page)
    assert list(rows) == ["Acme GmbH", "Globex AG"]  # problems first: Acme has two, Globex one
    assert "Initech" not in page.split("<main")[1]
    acme, globex = rows["Acme GmbH"], rows["Globex AG"]
    assert acme[:2] == ["Connected", "Automatic"] and acme[3:5] == ["3", "2"]
    assert acme[5] == "Last sync failed 2 deletions held"
    assert globex[:2] == ["Re-authentication required", "Manual"] and globex[2] != "Never"
    assert globex[3:] == ["0", "0", "Re-authentication required"]
    assert ">Reseller<" not in page  # one reseller: no reseller column


def test_a_broken_application_connection_asks_for_admin_consent(rita_client, world):
    _connect(world.acme, status="reauth_required", connection_type="application")
    world.northwind.ms_user_sync = True
    db.session.commit()
    acme = _rows(rita_client.get(URL).get_data(as_text=True))["Acme GmbH"]
    assert acme[0] == "Admin consent required" and acme[-1] == "Admin consent required"


def test_connected_customer_left_out_of_the_daily_sync_is_a_problem(rita_client, world):
    _connect(world.acme, sync_active=False)
    db.session.commit()
    rows = _rows(rita_client.get(URL).get_data(as_text=True))
    # Northwind has "Microsoft User Synchronization" off and Acme inherits it.
    assert rows["Acme GmbH"][-1] == "Synchronization active is off Microsoft User Synchronization is off"
    assert rows["Acme GmbH"][2] == "Never"
    assert rows["Globex AG"][0] == "Not connected" and rows["Globex AG"][-1] == "No problems"


def test_operator_sees_every_customer_with_its_reseller(app, world):
    _acme_and_globex_in_trouble(world)
    olga = app.test_client().sign_in_as(world.olga)
    rows = _rows(olga.get(URL + "?sort=name").get_data(as_text=True))
    assert list(rows) == ["Acme GmbH", "Globex AG", "Initech"]
    assert [r[0] for r in rows.values()] == ["Northwind IT", "Northwind IT", "Contoso Partners"]
    # Initech is connected, but Contoso Partners has "Microsoft User Synchronization" off.
    assert rows["Initech"][-1] == "Microsoft User Synchronization is off"


def test_customer_admins_have_no_overview(alice_client, world):
    assert alice_client.get(URL).status_code == 404
    assert "Customer overview" not in alice_client.get("/").get_data(as_text=True)


def test_every_column_sorts_both_ways_and_says_so_with_aria_sort(rita_client, world):
    _acme_and_globex_in_trouble(world)
    for sort, ascending in [
        ("name", ["Acme GmbH", "Globex AG"]),
        ("connection", ["Acme GmbH", "Globex AG"]),  # connected, then re-authentication required
        ("mode", ["Acme GmbH", "Globex AG"]),  # automatic, manual
        ("last_sync", ["Acme GmbH", "Globex AG"]),
        ("contacts", ["Globex AG", "Acme GmbH"]),
        ("held", ["Globex AG", "Acme GmbH"]),
    ]:
        page = rita_client.get(f"{URL}?sort={sort}").get_data(as_text=True)
        assert list(_rows(page)) == ascending, sort
        assert page.count("aria-sort=") == 1 and 'aria-sort="ascending"' in page
        page = rita_client.get(f"{URL}?sort=-{sort}").get_data(as_text=True)
        assert list(_rows(page)) == ascending[::-1], sort
        assert 'aria-sort="descending"' in page and f"sort={sort}" in page  # the header link turns it back


def test_never_synced_customers_count_as_the_oldest_sync(rita_client, world):
    _run(world.globex, "succeeded", hours_ago=3)
    db.session.commit()
    oldest_first = rita_client.get(f"{URL}?sort=last_sync").get_data(as_text=True)
    assert list(_rows(oldest_first)) == ["Acme GmbH", "Globex AG"]
    newest_first = rita_client.get(f"{URL}?sort=-last_sync").get_data(as_text=True)
    assert list(_rows(newest_first)) == ["Globex AG", "Acme GmbH"]


def test_search_by_name_answers_htmx_with_the_table_and_keeps_the_sort(rita_client, world):
    response = rita_client.get(f"{URL}?q=glob&sort=-name", headers={"HX-Request": "true"})
    fragment = response.get_data(as_text=True)
    assert "<html" not in fragment and list(_rows(fragment)) == ["Globex AG"]
    assert 'id="overview-sort" name="sort" value="-name"' in fragment
    assert "No customer matches “Initech”." in rita_client.get(f"{URL}?q=Initech").get_data(as_text=True)
    page = rita_client.get(URL).get_data(as_text=True)
    assert 'hx-include="#overview-sort"' in page and 'hx-target="#overview"' in page


def test_many_customers_are_paged_with_the_same_few_queries(app, rita_client, world):
    """The page's SQL statements do not grow with the number of customers (no query per customer)."""
    few = _statements(app, rita_client, URL)
    world.northwind.ms_user_sync = True
    for n in range(60):
        customer = Customer(name=f"Customer {n:02d}", reseller_id=world.northwind.id)
        db.session.add(customer)
        db.session.flush()
        status, mode = ("reauth_required" if n % 2 else "ok"), ("automatic" if n % 3 else "manual")
        _connect(customer, status=status, mode=mode)
        _contacts(customer, n % 4)
        _run(customer, "failed" if n % 5 == 0 else "succeeded", hours_ago=n)
    db.session.commit()
    assert _statements(app, rita_client, URL) == few
    first = rita_client.get(f"{URL}?sort=name").get_data(as_text=True)
    rows = _rows(first)
    assert len(rows) == 50 and list(rows)[:3] == ["Acme GmbH", "Customer 00", "Customer 01"]
    assert "Page 1 of 2" in first and "62 customers" in first
    second = _rows(rita_client.get(f"{URL}?sort=name&page=2").get_data(as_text=True))
    assert list(second) == [f"Customer {n}" for n in range(49, 60)] + ["Globex AG"]
    connection, mode, _last, contacts, _held, problems = second["Customer 55"]
    assert (connection, mode, contacts) == ("Re-authentication required", "Automatic", "3")
    assert problems == "Re-authentication required Last sync failed" and "Initech" not in second


def _statements(app, client, url):
    """How many SQL statements answering `url` takes."""
    seen = []

    def count(*args):
        seen.append(args[2])

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert client.get(url).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(seen)


def test_choosing_a_customer_makes_it_the_working_customer_and_opens_its_start_page(rita_client, world):
    page = rita_client.get(URL).get_data(as_text=True)
    form = page.split('<form method="post" action="/switch-customer">', 1)[1].split("</form>", 1)[0]
    assert 'name="csrf_token"' in form and '<input type="hidden" name="next" value="/">' in form
    assert f'name="customer_id" value="{world.globex.id}">Globex AG</button>' in form
    response = rita_client.post("/switch-customer", data={"customer_id": world.globex.id, "next": "/"})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "You are working on Globex AG." in rita_client.get("/").get_data(as_text=True)


def test_a_reseller_without_customers_is_told_so_and_offered_to_create_one(app, world):
    world.initech.reseller_id = world.northwind.id  # Contoso Partners now has no customer
    db.session.commit()
    page = app.test_client().sign_in_as(world.charlie).get(URL).get_data(as_text=True)
    assert "There is no customer yet." in page and "<table" not in page.split("<main")[1]


def test_nav_offers_the_overview_to_resellers(rita_client, world):
    page = rita_client.get(URL).get_data(as_text=True)
    assert 'href="/admin/overview" aria-current="page"' in page and "<caption>" in page


def test_german_reseller_reads_the_overview_in_german(rita_client, world):
    ensure_compiled()
    _acme_and_globex_in_trouble(world)
    page = rita_client.get(URL, headers={"Accept-Language": "de-DE,de;q=0.9"}).get_data(as_text=True)
    assert "Kundenübersicht" in page and "Letzte erfolgreiche Synchronisation" in page
    assert _rows(page)["Acme GmbH"][-1] == "Letzte Synchronisation fehlgeschlagen 2 Löschungen zurückgehalten"


def test_the_demo_seed_gives_the_overview_a_customer_in_trouble(app):
    seed_demo()
    db.session.commit()
    reseller = db.session.scalar(select(AdminUser).where(AdminUser.email == "reseller@demo.example"))
    rows = _rows(app.test_client().sign_in_as(reseller).get(URL).get_data(as_text=True))
    assert list(rows)[0] == "Tailspin Toys"
    assert rows["Tailspin Toys"][-1] == "Re-authentication required Last sync failed 3 deletions held"
    assert rows["Contoso Demo GmbH"][0] == "Not connected"
    assert seed_demo() == dict.fromkeys(("resellers", "customers", "admins", "contacts", "groups"), 0)

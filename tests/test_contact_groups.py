"""Contact groups: list with counts, create, rename, delete, members."""

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Contact, ContactGroup
from tests.factories import add_contact, add_group, text


@pytest.fixture
def groups(world):
    """Acme's groups: Sales (two members), an M365 group (empty); Globex's Staff group."""
    g = type("Groups", (), {})()
    g.sales = add_group(world.acme, "Sales")
    g.m365 = add_group(world.acme, "All Staff", origin="m365")
    g.globex = add_group(world.globex, "Staff")
    g.anna = add_contact(world.acme, "anna@acme.example", "Anna", "Schmidt", groups=[g.sales])
    g.ben = add_contact(world.acme, "ben@acme.example", "Ben", "Berg", groups=[g.sales])
    g.carl = add_contact(world.acme, "carl@acme.example", "Carl", "Clark")
    g.gina = add_contact(world.globex, "gina@globex.example", "Gina", "Globex", groups=[g.globex])
    return g


def members(group_id):
    db.session.expire_all()
    return sorted(c.email for c in db.session.get(ContactGroup, group_id).contacts)


@pytest.mark.parametrize(
    "path",
    ["/contacts/groups", "/contacts/groups/1", "/contacts/groups/1/rename", "/contacts/groups/1/delete"],
)
def test_anonymous_visitor_is_sent_to_sign_in(client, world, path):
    assert client.get(path).headers["Location"].startswith("/login")


def test_group_list_shows_member_counts_and_the_m365_badge(alice_client, groups):
    page = text(alice_client.get("/contacts/groups"))
    assert "Sales" in page and "All Staff" in page
    assert f'href="/contacts/?group={groups.sales.id}">2<' in page
    assert ">M365<" in page
    assert "Staff</a>" not in page.replace("All Staff</a>", "")  # Globex's group is not listed


def test_the_contact_book_shows_each_contacts_groups_by_name(alice_client, world, groups):
    audit = add_group(world.acme, "Audit")
    groups.anna.groups.append(audit)
    db.session.commit()
    rows = {}
    for row in text(alice_client.get("/contacts/", headers={"HX-Request": "true"})).split("<tr>")[2:]:
        email = row.split("@acme.example")[0].rsplit(">", 1)[-1]
        rows[email] = [cell.split("<")[0] for cell in row.split('<span class="badge">')[2:]]
    assert rows == {"anna": ["Audit", "Sales"], "ben": ["Sales"], "carl": []}


def test_creating_a_group(alice_client, world):
    response = alice_client.post("/contacts/groups", data={"name": " Marketing "})
    assert response.headers["Location"] == "/contacts/groups"
    assert (
        db.session.scalar(db.select(ContactGroup.name).where(ContactGroup.customer_id == world.acme.id))
        == "Marketing"
    )


def test_group_names_are_unique_per_customer_in_any_case(alice_client, groups):
    response = alice_client.post("/contacts/groups", data={"name": "SALES"})
    assert response.status_code == 422
    assert "A contact group with this name already exists." in text(response)
    assert (
        db.session.scalar(
            db.select(db.func.count())
            .select_from(ContactGroup)
            .where(ContactGroup.customer_id == groups.sales.customer_id)
        )
        == 2
    )
    # Globex has a "Staff" group; Acme may have one too.
    assert alice_client.post("/contacts/groups", data={"name": "Staff"}).status_code == 302


def test_rename_in_place_with_htmx(alice_client, groups):
    url = f"/contacts/groups/{groups.sales.id}/rename"
    form = text(alice_client.get(url, headers={"HX-Request": "true"}))
    assert "<form" in form and 'value="Sales"' in form and "<html" not in form
    shown = text(alice_client.post(url, data={"name": "Vertrieb"}, headers={"HX-Request": "true"}))
    assert "Vertrieb" in shown and 'id="group-name"' in shown
    db.session.expire_all()
    assert db.session.get(ContactGroup, groups.sales.id).name == "Vertrieb"


def test_rename_to_a_taken_name_is_a_field_error(alice_client, groups):
    response = alice_client.post(f"/contacts/groups/{groups.sales.id}/rename", data={"name": "all staff"})
    assert "A contact group with this name already exists." in text(response)
    db.session.expire_all()
    assert db.session.get(ContactGroup, groups.sales.id).name == "Sales"


def test_renaming_to_the_same_name_in_other_case_is_allowed(alice_client, groups):
    response = alice_client.post(f"/contacts/groups/{groups.sales.id}/rename", data={"name": "SALES"})
    assert response.status_code == 302


def test_deleting_a_group_asks_first_and_keeps_its_contacts(alice_client, groups):
    sales_id, anna_id = groups.sales.id, groups.anna.id
    confirm = text(alice_client.get(f"/contacts/groups/{sales_id}/delete"))
    assert "2 members stay in the contact book" in confirm
    response = alice_client.post(f"/contacts/groups/{sales_id}/delete")
    assert response.headers["Location"] == "/contacts/groups"
    db.session.expire_all()
    assert db.session.get(ContactGroup, sales_id) is None
    assert db.session.get(Contact, anna_id).groups == []


def test_group_page_lists_members_and_finds_contacts_to_add(alice_client, groups):
    page = text(alice_client.get(f"/contacts/groups/{groups.sales.id}"))
    assert "2 members" in page and "anna@acme.example" in page
    url = f"/contacts/groups/{groups.sales.id}/candidates?q=acme"
    found = text(alice_client.get(url, headers={"HX-Request": "true"}))
    assert "carl@acme.example" in found
    assert "anna@acme.example" not in found  # already a member
    assert "gina@globex.example" not in found  # another customer


def test_adding_and_removing_members_on_the_group_page(alice_client, groups):
    url = f"/contacts/groups/{groups.sales.id}/members"
    assert alice_client.post(url, data={"contact_id": groups.carl.id}).status_code == 302
    assert members(groups.sales.id) == ["anna@acme.example", "ben@acme.example", "carl@acme.example"]
    response = alice_client.post(f"{url}/{groups.anna.id}/remove", headers={"HX-Request": "true"})
    assert response.status_code == 200 and text(response) == ""
    assert members(groups.sales.id) == ["ben@acme.example", "carl@acme.example"]
    assert db.session.get(Contact, groups.anna.id) is not None


def test_book_filters_by_group_after_adding(alice_client, groups):
    alice_client.post(f"/contacts/groups/{groups.m365.id}/members", data={"contact_id": groups.carl.id})
    page = text(alice_client.get(f"/contacts/?group={groups.m365.id}"))
    assert "carl@acme.example" in page and "anna@acme.example" not in page


@pytest.mark.parametrize(
    "method,suffix",
    [
        ("get", ""),
        ("get", "/rename"),
        ("post", "/rename"),
        ("get", "/delete"),
        ("post", "/delete"),
        ("get", "/candidates?q=g"),
        ("post", "/members"),
    ],
)
def test_another_customers_group_answers_404(alice_client, groups, method, suffix):
    url = f"/contacts/groups/{groups.globex.id}{suffix}"
    response = getattr(alice_client, method)(url, data={"name": "Mine", "contact_id": groups.anna.id})
    assert response.status_code == 404
    assert members(groups.globex.id) == ["gina@globex.example"]


def test_another_customers_contact_cannot_be_added(alice_client, groups):
    response = alice_client.post(
        f"/contacts/groups/{groups.sales.id}/members", data={"contact_id": groups.gina.id}
    )
    assert response.status_code == 404
    assert members(groups.sales.id) == ["anna@acme.example", "ben@acme.example"]


def test_post_without_csrf_token_is_refused(alice_client, groups):
    assert alice_client.post("/contacts/groups", data={"name": "X"}, csrf=False).status_code == 400
    assert alice_client.post(f"/contacts/groups/{groups.sales.id}/delete", csrf=False).status_code == 400
    assert (
        alice_client.post(
            f"/contacts/groups/{groups.sales.id}/members/{groups.anna.id}/remove", csrf=False
        ).status_code
        == 400
    )
    assert members(groups.sales.id) == ["anna@acme.example", "ben@acme.example"]


@pytest.mark.parametrize("second", ["Ärzte", "ärzte", "ÄRZTE", " Ärzte "])
def test_a_group_name_taken_in_any_letter_case_answers_already_exists_never_500(alice_client, world, second):
    assert alice_client.post("/contacts/groups", data={"name": "Ärzte"}).status_code == 302
    response = alice_client.post("/contacts/groups", data={"name": second})
    assert response.status_code == 422
    assert "A contact group with this name already exists." in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ContactGroup)) == 1


def test_a_group_made_between_the_check_and_the_commit_answers_already_exists(
    alice_client, world, monkeypatch
):
    """Two tabs creating "Ärzte" at once: the name check passes for both, the unique key refuses one."""
    from portal.contacts import services

    monkeypatch.setattr(services, "group_name_problem", lambda *args, **kwargs: None)  # both pass the check
    assert alice_client.post("/contacts/groups", data={"name": "Ärzte"}).status_code == 302
    response = alice_client.post("/contacts/groups", data={"name": "ärzte"})
    assert response.status_code == 422 and "already exists" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ContactGroup)) == 1

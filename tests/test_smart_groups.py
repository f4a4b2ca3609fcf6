"""Issue 22: smart groups — contact groups whose members are exactly the contacts matching a rule,
kept in step by every write (sync, CSV import, the contact form, Restore), with the reason in the history."""

import pytest
from sqlalchemy import select

from portal import book, smart_groups
from portal.extensions import db
from portal.models import Contact, ContactGroup, utcnow
from portal.models.sync import SyncChange, SyncRun
from tests.factories import add_contact, confirm, preview_url, removed_by_sync, text, upload
from tests.sync_helpers import imported, sync

ADELE = "adele.vance@contosodemo.onmicrosoft.com"


def smart(customer, name, *conditions):
    """A smart group of `customer` with `conditions` ((attribute, operator, value) ...), filled."""
    rule = smart_groups.validate(
        {"conditions": [dict(zip(("attribute", "operator", "value"), c, strict=True)) for c in conditions]}
    )
    group = ContactGroup(customer_id=customer.id, name=name, rule=rule)
    db.session.add(group)
    db.session.flush()
    smart_groups.refresh(customer.id, record=False)
    db.session.commit()
    return group


def members(group):
    db.session.expire_all()
    return sorted(c.email for c in db.session.get(ContactGroup, group.id).contacts if c.archived_at is None)


def matching(customer, *condition):
    rule = smart_groups.validate(
        {"conditions": [dict(zip(("attribute", "operator", "value"), condition, strict=True))]}
    )
    ids = smart_groups.matching_ids(customer.id, rule)
    return sorted(db.session.scalars(select(Contact.email).where(Contact.id.in_(ids))))


def moves(group):
    """{(kind, contact email, field, old, new)} recorded for the group."""
    db.session.expire_all()
    return {
        (c.kind, c.contact_email, c.field, c.old_value, c.new_value)
        for c in smart_groups.recent_changes(group)
    }


@pytest.fixture
def staff(world):
    s = type("Staff", (), {})()
    s.fin = add_contact(world.acme, "fin@acme.example", "Fiona", "Fin", department="Finance", office="Munich")
    s.fin2 = add_contact(
        world.acme, "fin2@acme.example", "Felix", "Fin", department="FINANCE", language="de-DE"
    )
    s.sales = add_contact(
        world.acme, "sales@acme.example", "Sam", "Sales", department="Sales", language="en-US"
    )
    s.blank = add_contact(world.acme, "blank@acme.example", "Bea", "Blank")
    s.gone = add_contact(world.acme, "gone@acme.example", "Gus", "Gone", department="Finance")
    s.gone.archived_at = s.gone.created_at
    s.other = add_contact(world.globex, "fin@globex.example", "Gina", "Globex", department="Finance")
    db.session.commit()
    return s


def test_each_operator_compares_case_insensitively_among_active_contacts(world, staff):
    assert matching(world.acme, "department", "is", "finance") == ["fin2@acme.example", "fin@acme.example"]
    assert matching(world.acme, "department", "is_not", "Finance") == [
        "blank@acme.example",
        "sales@acme.example",
    ]
    assert matching(world.acme, "language", "starts_with", "DE") == ["fin2@acme.example"]
    assert matching(world.acme, "department", "empty", "") == ["blank@acme.example"]
    assert len(matching(world.acme, "department", "not_empty", "")) == 3  # the archived one is no member


def test_starts_with_takes_like_wildcards_literally(world, staff):
    add_contact(world.acme, "pct@acme.example", department="50% Sales")
    assert matching(world.acme, "department", "starts_with", "50%") == ["pct@acme.example"]
    assert matching(world.acme, "department", "starts_with", "_") == []


def test_manager_directly_or_with_indirect_reports_and_a_cycle_ends(world):
    boss = add_contact(world.acme, "boss@acme.example", "Bo", "Boss")
    mid = add_contact(world.acme, "mid@acme.example", "Mia", "Mid", manager_id=boss.id)
    low = add_contact(world.acme, "low@acme.example", "Lou", "Low", manager_id=mid.id)
    boss.manager_id = low.id  # a cycle: boss -> low -> mid -> boss
    db.session.commit()
    assert matching(world.acme, "manager", "direct", "BOSS@acme.example") == ["mid@acme.example"]
    assert matching(world.acme, "manager", "indirect", "boss@acme.example") == [
        "boss@acme.example",
        "low@acme.example",
        "mid@acme.example",
    ]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({}, "Add at least one condition."),
        (
            {"conditions": [{"attribute": "salary", "operator": "is", "value": "1"}]},
            "Unknown attribute: salary.",
        ),
        (
            {"conditions": [{"attribute": "department", "operator": "like", "value": "x"}]},
            "Choose how to compare",
        ),
        ({"conditions": [{"attribute": "department", "operator": "is", "value": " "}]}, "Enter a value for"),
        ({"conditions": [{"attribute": "manager", "operator": "is", "value": "a@b.example"}]}, "Choose how"),
    ],
)
def test_a_rule_that_cannot_work_is_refused_with_a_reason(app, rule, message):
    with pytest.raises(smart_groups.RuleError, match=message):
        smart_groups.validate(rule)


def test_refresh_keeps_members_exact_and_says_why_they_left(world, staff):
    group = smart(world.acme, "Finance", ("department", "is", "Finance"))
    assert members(group) == ["fin2@acme.example", "fin@acme.example"]
    staff.fin.department = "Sales"
    staff.blank.department = "finance"
    book.settle(world.acme.id)
    db.session.commit()
    assert members(group) == ["blank@acme.example", "fin2@acme.example"]
    assert moves(group) == {
        ("group_leave", "fin@acme.example", "department", "", "Sales"),
        ("group_join", "blank@acme.example", "department", "", "finance"),
    }
    run = db.session.scalar(select(SyncRun).where(SyncRun.kind == "edit"))
    assert run.counts == {"group_leaves": 1, "group_joins": 1}


def test_a_manager_rule_names_someone_not_imported_yet(world):
    group = smart(world.acme, "Team", ("manager", "indirect", "cfo@acme.example"))
    report = add_contact(world.acme, "r@acme.example", manager_email="cfo@acme.example")
    book.settle(world.acme.id)
    db.session.commit()
    assert members(group) == []
    add_contact(world.acme, "cfo@acme.example", "Lynne", "Kühn")
    book.settle(world.acme.id)  # link_managers points the report at the CFO, then the group follows
    db.session.commit()
    assert members(group) == [report.email]


def test_a_team_rule_says_which_condition_each_leaver_no_longer_meets(world, monkeypatch):
    boss = add_contact(world.acme, "boss@acme.example", "Bo", "Boss")
    other = add_contact(world.acme, "other@acme.example", "Otto", "Other")
    finance = {"department": "Finance"}
    mid = add_contact(world.acme, "mid@acme.example", "Mia", "Mid", manager_email=boss.email, **finance)
    low = add_contact(world.acme, "low@acme.example", "Lou", "Low", manager_email=mid.email, **finance)
    far = add_contact(world.acme, "far@acme.example", "Fay", "Far", manager_email=low.email, **finance)
    book.settle(world.acme.id)  # links the managers
    group = smart(world.acme, "Boss's Finance", ("manager", "indirect", "boss@acme.example"),
                  ("department", "is", "finance"))  # fmt: skip
    assert members(group) == ["far@acme.example", "low@acme.example", "mid@acme.example"]
    for names_by_id_up_to in (5000, 0):  # a team's names looked up by id, or read in one pass
        monkeypatch.setattr(smart_groups, "NAMES_BY_ID_UP_TO", names_by_id_up_to)
        count, first = smart_groups.preview(world.acme.id, group.rule, limit=2)
        assert (count, [contact.last_name for contact in first]) == (3, ["Far", "Low"])
    low.manager_email = other.email  # Lou and, through Lou, Fay leave the team
    mid.department = "Sales"
    book.settle(world.acme.id)
    db.session.commit()
    assert members(group) == []
    assert {(kind, email, field) for kind, email, field, _old, _new in moves(group)} == {
        ("group_leave", "mid@acme.example", "department"),
        ("group_leave", "low@acme.example", "manager"),
        ("group_leave", "far@acme.example", "manager"),
    }
    far.manager_email = boss.email
    book.settle(world.acme.id)
    db.session.commit()
    assert members(group) == ["far@acme.example"]


def test_refresh_writes_set_based_for_many_contacts(world):
    from portal.models.base import insert_rows

    rows = (
        {"customer_id": world.acme.id, "email": f"p{i}@acme.example", "email_key": f"p{i}@acme.example",
         "department": "Finance" if i % 2 else "Sales"}
        for i in range(5000)
    )  # fmt: skip
    insert_rows(Contact.__table__, rows)
    group = smart(world.acme, "Finance", ("department", "is", "Finance"))
    assert len(members(group)) == 2500


def test_smart_group_members_cannot_be_added_or_removed_by_hand(alice_client, world, staff):
    group = smart(world.acme, "Finance", ("department", "is", "Finance"))
    alice_client.post(f"/contacts/groups/{group.id}/members", data={"contact_id": staff.sales.id})
    alice_client.post(f"/contacts/groups/{group.id}/members/{staff.fin.id}/remove")
    assert members(group) == ["fin2@acme.example", "fin@acme.example"]
    page = text(alice_client.get(f"/contacts/groups/{group.id}"))
    assert "Members follow the rule" in page and "Department is „Finance“" in page


def test_creating_a_smart_group_with_its_preview(alice_client, world, staff):
    rule = {"attribute-0": "department", "operator-0": "is", "value-0": "finance"}
    preview = text(
        alice_client.post("/contacts/groups/smart/preview", data=rule, headers={"HX-Request": "true"})
    )
    assert "Preview: 2 contacts match" in preview and "Fin, Fiona" in preview
    response = alice_client.post(
        "/contacts/groups/smart/new", data={"name": "Finance", "action": "save", **rule}
    )
    assert response.status_code == 302
    group = db.session.scalar(select(ContactGroup).where(ContactGroup.name == "Finance"))
    assert group.is_smart and members(group) == ["fin2@acme.example", "fin@acme.example"]
    assert "Smart" in text(alice_client.get("/contacts/groups"))


def test_the_builder_adds_and_removes_rows_and_refuses_a_bad_rule(alice_client, world):
    rows = text(
        alice_client.post(
            "/contacts/groups/smart/rows",
            data={"attribute-0": "department", "operator-0": "is", "value-0": "x", "action": "add"},
            headers={"HX-Request": "true"},
        )
    )
    assert 'name="attribute-1"' in rows
    response = alice_client.post(
        "/contacts/groups/smart/new",
        data={
            "name": "Bad",
            "action": "save",
            "attribute-0": "department",
            "operator-0": "is",
            "value-0": "",
        },
    )
    assert response.status_code == 422 and "Enter a value for Department" in text(response)


def test_editing_the_rule_changes_the_members(alice_client, world, staff):
    group = smart(world.acme, "Finance", ("department", "is", "Finance"))
    response = alice_client.post(
        f"/contacts/groups/{group.id}/rule",
        data={
            "name": "Finance",
            "action": "save",
            "attribute-0": "office",
            "operator-0": "is",
            "value-0": "munich",
        },
    )
    assert response.status_code == 302
    assert members(group) == ["fin@acme.example"]


def test_another_customers_smart_group_answers_404(alice_client, world, staff):
    group = smart(world.globex, "Finance", ("department", "is", "Finance"))
    assert alice_client.get(f"/contacts/groups/{group.id}/rule").status_code == 404
    assert alice_client.get(f"/contacts/groups/{group.id}").status_code == 404


def test_the_contact_form_keeps_smart_groups_exact(alice_client, world, staff):
    group = smart(world.acme, "No department", ("department", "empty", ""))
    response = alice_client.post("/contacts/new", data={"email": "new@acme.example", "first_name": "Nia"})
    assert response.status_code == 302
    assert members(group) == ["blank@acme.example", "new@acme.example"]
    form = {"email": "blank@acme.example", "first_name": "Bea", "last_name": "Blank"}
    alice_client.post(f"/contacts/{staff.blank.id}/edit", data=form)
    assert members(group) == ["blank@acme.example", "new@acme.example"]  # the form leaves smart groups be
    new = db.session.scalar(select(Contact).where(Contact.email == "new@acme.example"))
    alice_client.post(f"/contacts/{new.id}/delete")
    assert members(group) == ["blank@acme.example"]
    assert ("group_join", "new@acme.example", "department", "", "") in moves(group)
    assert ("group_leave", "new@acme.example", "", "", "") in moves(group)  # "no longer an active contact"


def test_the_contact_form_moves_one_contact_through_attribute_and_team_rules(alice_client, world, staff):
    boss = add_contact(world.acme, "boss@acme.example", "Bo", "Boss")
    finance = smart(world.acme, "Finance", ("department", "is", "Finance"))
    team = smart(world.acme, "Boss's team", ("manager", "indirect", "boss@acme.example"))
    team_finance = smart(world.acme, "Boss's Finance", ("manager", "direct", "boss@acme.example"),
                         ("department", "is", "Finance"))  # fmt: skip
    form = {"email": "sales@acme.example", "first_name": "Sam", "last_name": "Sales", "department": "Finance"}
    assert alice_client.post(f"/contacts/{staff.sales.id}/edit", data=form).status_code == 302
    assert "sales@acme.example" in members(finance) and members(team) == members(team_finance) == []
    form["manager_email"] = boss.email
    assert alice_client.post(f"/contacts/{staff.sales.id}/edit", data=form).status_code == 302
    assert members(team) == members(team_finance) == ["sales@acme.example"]
    form["department"] = "Sales"
    assert alice_client.post(f"/contacts/{staff.sales.id}/edit", data=form).status_code == 302
    assert (members(team), members(team_finance)) == (["sales@acme.example"], [])
    assert "sales@acme.example" not in members(finance)
    assert ("group_leave", "sales@acme.example", "department", "", "Sales") in moves(finance)


def test_a_contact_disabled_by_entra_leaves_smart_groups_and_comes_back_when_enabled(world, staff):
    boss = add_contact(world.acme, "boss@acme.example", "Bo", "Boss")
    staff.fin.manager_email = boss.email
    book.settle(world.acme.id)
    finance = smart(world.acme, "Finance", ("department", "is", "Finance"))
    team = smart(world.acme, "Boss's team", ("manager", "indirect", "boss@acme.example"))
    assert members(team) == ["fin@acme.example"] and "fin@acme.example" in members(finance)
    staff.fin.deactivated_at = utcnow()  # as a SCIM PATCH of active false does
    book.settle(world.acme.id, only=[staff.fin.id])
    db.session.commit()
    assert members(team) == [] and "fin@acme.example" not in members(finance)
    assert ("group_leave", "fin@acme.example", "", "", "") in moves(team)  # no longer an active contact
    staff.fin.deactivated_at = None
    book.settle(world.acme.id, only=[staff.fin.id])
    db.session.commit()
    assert members(team) == ["fin@acme.example"] and "fin@acme.example" in members(finance)


def test_the_csv_import_keeps_smart_groups_exact(alice_client, world, staff):
    group = smart(world.acme, "No department", ("department", "empty", ""))
    other = smart(world.acme, "Finance", ("department", "is", "Finance"))
    preview = preview_url(upload(alice_client, "email;first_name;group\ncsv@acme.example;Cora;Finance\n"))
    assert confirm(alice_client, preview).status_code == 302
    assert members(group) == ["blank@acme.example", "csv@acme.example"]
    assert "csv@acme.example" not in members(other)  # the file does not put anyone into a smart group


def test_restore_brings_a_contact_back_into_its_smart_group(alice_client, world):
    group = smart(world.acme, "Finance", ("department", "is", "Finance"))
    contact = removed_by_sync(world.acme, "back@acme.example")
    contact.department = "Finance"
    db.session.commit()
    assert members(group) == []
    alice_client.post(f"/contacts/removed/{contact.id}/restore")
    assert members(group) == ["back@acme.example"]


def test_a_sync_takes_a_contact_out_and_the_history_says_why(app, alice_client, emulator, connected_acme):
    everyone = imported(app, emulator, connected_acme)
    emulator.control("PATCH", f"users/{everyone['adele.vance']['id']}", {"department": "Finance"})
    sync(app, connected_acme)
    group = smart(connected_acme, "Finance", ("department", "is", "Finance"))
    assert ADELE in members(group)
    emulator.control("PATCH", f"users/{everyone['adele.vance']['id']}", {"department": "Sales"})
    run = sync(app, connected_acme)
    assert ADELE not in members(group)
    change = db.session.scalar(
        select(SyncChange).where(SyncChange.run_id == run.id, SyncChange.kind == "group_leave")
    )
    assert (change.contact_email, change.field, change.old_value, change.new_value) == (
        ADELE,
        "department",
        "Finance",
        "Sales",
    )
    page = text(alice_client.get(f"/sync/history/{run.id}"))
    assert "Left smart group" in page and "Finance: Department changed from Finance to Sales" in page

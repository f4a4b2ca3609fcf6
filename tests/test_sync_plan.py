"""The sync plan is a pure function: contact book + what Microsoft said + settings -> changes."""

import sys

from portal.models.vocabulary import RemovalReason, SkipReason
from portal.sync import plan as p
from portal.sync.plan import ContactSnap, M365Data, Rules, build


def user(uid, given="Adele", surname="Vance", mail=None, **extra):
    mail = mail if mail is not None else f"{given}.{surname}@contoso.com".lower()
    data = {
        "id": uid,
        "givenName": given,
        "surname": surname,
        "displayName": f"{given} {surname}",
        "mail": mail or None,
        "userPrincipalName": f"{uid}@contoso.onmicrosoft.com",
        "accountEnabled": True,
        "userType": "Member",
    }
    data.update(extra)
    return data


def contact(cid, uid=None, first="Adele", last="Vance", email=None, archived=False, groups=()):
    email = email or f"{first}.{last}@contoso.com".lower()
    return ContactSnap(
        id=cid,
        first_name=first,
        last_name=last,
        email=email,
        m365_user_id=uid,
        archived=archived,
        group_ids=frozenset(groups),
    )


def synced_book(n):
    return [contact(i, f"u{i}", first=f"F{i}", last=f"L{i}") for i in range(1, n + 1)]


# --- updates --------------------------------------------------------------------------------


def test_changed_last_name_is_an_update_with_old_and_new_value():
    plan = build(
        [contact(1, "u1")],
        M365Data(users={"u1": user("u1", surname="Smith", mail="adele.vance@contoso.com")}),
    )
    assert [(c.contact_id, c.changes) for c in plan.updates] == [(1, (("last_name", "Vance", "Smith"),))]


def test_changed_email_is_updated():
    plan = build([contact(1, "u1")], M365Data(users={"u1": user("u1", mail="adele@new.example")}))
    assert plan.updates[0].changes == (("email", "adele.vance@contoso.com", "adele@new.example"),)


def test_unchanged_user_plans_nothing():
    plan = build([contact(1, "u1")], M365Data(users={"u1": user("u1")}))
    assert plan.is_empty and not plan.skipped


def test_email_change_in_letter_case_only_is_updated():
    plan = build([contact(1, "u1")], M365Data(users={"u1": user("u1", mail="Adele.Vance@contoso.com")}))
    assert plan.updates[0].changes == (("email", "adele.vance@contoso.com", "Adele.Vance@contoso.com"),)


def test_contacts_without_m365_link_are_never_updated():
    plan = build([contact(1, None)], M365Data(users={"u1": user("u1", surname="Other")}))
    assert plan.is_empty


def test_user_without_mailbox_keeps_the_contacts_email_and_is_reported():
    plan = build([contact(1, "u1")], M365Data(users={"u1": user("u1", mail="", surname="New")}))
    assert plan.updates[0].changes == (("last_name", "Vance", "New"),)
    assert plan.skipped[0].reason == SkipReason.EMAIL_NO_MAILBOX


def test_primary_smtp_proxy_address_is_used_when_mail_is_empty():
    u = user("u1", mail="", proxyAddresses=["smtp:alias@contoso.com", "SMTP:primary@contoso.com"])
    plan = build([contact(1, "u1")], M365Data(users={"u1": u}))
    assert plan.updates[0].changes == (("email", "adele.vance@contoso.com", "primary@contoso.com"),)


def test_email_change_to_an_address_of_another_contact_is_not_applied():
    book = [contact(1, "u1"), contact(2, None, first="Bob", last="B", email="bob@contoso.com")]
    plan = build(book, M365Data(users={"u1": user("u1", mail="BOB@contoso.com")}))
    assert plan.updates == []
    assert plan.skipped[0].reason == SkipReason.EMAIL_CONFLICT


def test_email_change_outside_allowed_domains_is_not_applied():
    plan = build(
        [contact(1, "u1")],
        M365Data(users={"u1": user("u1", mail="a@gmail.com")}),
        Rules(allowed_domains=("contoso.com",)),
    )
    assert plan.updates == [] and plan.skipped[0].reason == SkipReason.EMAIL_DOMAIN


def test_missing_names_do_not_blank_the_contacts_names():
    u = user("u1", given="", surname="", displayName="", mail="adele.vance@contoso.com")
    plan = build([contact(1, "u1")], M365Data(users={"u1": u}))
    assert plan.is_empty


def test_display_name_is_split_when_given_name_and_surname_are_missing():
    u = user("u1", given="", surname="", displayName="Mary Ann Smith", mail="adele.vance@contoso.com")
    plan = build([contact(1, "u1")], M365Data(users={"u1": u}))
    assert plan.updates[0].changes == (("first_name", "Adele", "Mary Ann"), ("last_name", "Vance", "Smith"))


# --- removals, restores, threshold ----------------------------------------------------------


def test_removed_user_removes_the_contact_with_reason():
    plan = build(synced_book(20), M365Data(removed={"u3": RemovalReason.HARD}))
    assert [(c.contact_id, c.reason) for c in plan.removals] == [(3, RemovalReason.HARD)]


def test_removal_of_unknown_or_already_archived_contact_is_ignored():
    book = [contact(1, "u1", archived=True)]
    plan = build(book, M365Data(removed={"u1": RemovalReason.SOFT, "zz": RemovalReason.SOFT}))
    assert plan.is_empty


def test_linked_manual_contact_is_removed_too():
    plan = build([contact(1, "u1")] + synced_book(30)[1:], M365Data(removed={"u1": RemovalReason.SOFT}))
    assert [c.contact_id for c in plan.removals] == [1]


def test_user_present_again_restores_the_archived_contact_with_field_changes():
    book = [contact(1, "u1", archived=True)]
    plan = build(book, M365Data(users={"u1": user("u1", given="Adela", mail="adele.vance@contoso.com")}))
    assert [(c.contact_id, c.changes) for c in plan.restores] == [(1, (("first_name", "Adele", "Adela"),))]
    assert plan.updates == []


def test_removals_above_share_and_count_are_all_held():
    removed = {f"u{i}": RemovalReason.SOFT for i in range(1, 12)}  # 11 of 100 (> 10 %, >= 10)
    plan = build(synced_book(100), M365Data(removed=removed))
    assert plan.removals == [] and len(plan.holds) == 11 and plan.threshold_exceeded


def test_many_removals_in_a_big_book_below_the_share_are_applied():
    removed = {f"u{i}": RemovalReason.SOFT for i in range(1, 11)}  # 10 of 100 = 10 %, not more
    plan = build(synced_book(100), M365Data(removed=removed))
    assert len(plan.removals) == 10 and plan.holds == []


def test_few_removals_in_a_small_book_are_applied_even_above_the_share():
    removed = {f"u{i}": RemovalReason.SOFT for i in range(1, 10)}  # 9 of 12: share yes, count no
    plan = build(synced_book(12), M365Data(removed=removed))
    assert len(plan.removals) == 9 and plan.holds == []


def test_threshold_follows_the_customers_settings():
    removed = {"u1": RemovalReason.SOFT, "u2": RemovalReason.SOFT}
    plan = build(synced_book(10), M365Data(removed=removed), Rules(threshold_percent=5, threshold_min=2))
    assert len(plan.holds) == 2


def test_already_held_contact_is_not_removed_or_held_again():
    plan = build(
        synced_book(20), M365Data(removed={"u1": RemovalReason.SOFT}), Rules(held_contact_ids=frozenset({1}))
    )
    assert plan.is_empty


def test_held_contact_whose_user_is_back_is_released():
    plan = build(
        synced_book(3),
        M365Data(users={"u1": user("u1", "F1", "L1", mail="f1.l1@contoso.com")}),
        Rules(held_contact_ids=frozenset({1})),
    )
    assert [c.contact_id for c in plan.releases] == [1]


# --- wanted users: import and group members -------------------------------------------------


def test_new_user_is_created_with_names_and_email():
    plan = build([], M365Data(users={"u1": user("u1")}, wanted=[("u1", None)]))
    assert [(c.user_id, c.values) for c in plan.creates] == [
        ("u1", ("Adele", "Vance", "adele.vance@contoso.com"))
    ]


def test_existing_contact_with_same_email_in_other_case_is_linked_when_link_active():
    book = [contact(1, None, email="ADELE.Vance@Contoso.com")]
    plan = build(book, M365Data(users={"u1": user("u1")}, wanted=[("u1", None)]), Rules(link_active=True))
    assert [(c.contact_id, c.user_id) for c in plan.links] == [(1, "u1")]
    assert plan.links[0].changes == (("email", "ADELE.Vance@Contoso.com", "adele.vance@contoso.com"),)
    assert plan.creates == []


def test_existing_contact_with_same_email_is_left_alone_without_link_active():
    book = [contact(1, None, email="ADELE.Vance@Contoso.com")]
    plan = build(book, M365Data(users={"u1": user("u1")}, wanted=[("u1", None)]))
    assert plan.links == [] and plan.creates == []
    assert [c.contact_id for c in plan.present] == [1]


def test_already_imported_user_counts_as_present():
    plan = build(
        [contact(1, "u1")], M365Data(users={"u1": user("u1")}, wanted=[("u1", None)]), Rules(update_all=False)
    )
    assert plan.is_empty and [c.contact_id for c in plan.present] == [1]


def test_import_updates_only_the_imported_users():
    book = [contact(1, "u1"), contact(2, "u2", first="Bob", last="B", email="bob@contoso.com")]
    users = {
        "u1": user("u1", surname="New", mail="adele.vance@contoso.com"),
        "u2": user("u2", given="Bobby", surname="B", mail="bob@contoso.com"),
    }
    plan = build(book, M365Data(users=users, wanted=[("u1", None)]), Rules(update_all=False))
    assert [c.contact_id for c in plan.updates] == [1]


def test_skip_reasons_are_reported_per_user():
    users = {
        "nomail": user("nomail", mail=""),
        "off": user("off", given="Dis", accountEnabled=False),
        "guest": user("guest", given="Gus", userPrincipalName="g_x.com#EXT#@contoso.onmicrosoft.com"),
        "dom": user("dom", given="Out", mail="out@gmail.com"),
    }
    plan = build(
        [],
        M365Data(users=users, wanted=[(u, None) for u in users] + [("gone", None)]),
        Rules(allowed_domains=("contoso.com",)),
    )
    reasons = {c.user_id: c.reason for c in plan.skipped}
    assert reasons == {
        "nomail": "no mailbox address",
        "off": "disabled account",
        "guest": "guest",
        "dom": "domain not allowed",
        "gone": SkipReason.NOT_FOUND,
    }
    assert plan.creates == []


def test_disabled_users_and_guests_are_imported_when_the_filters_are_off():
    users = {
        "off": user("off", given="Dis", accountEnabled=False),
        "guest": user("guest", given="Gus", userType="Guest"),
    }
    plan = build(
        [],
        M365Data(users=users, wanted=[("off", None), ("guest", None)]),
        Rules(skip_disabled=False, skip_guests=False),
    )
    assert sorted(c.user_id for c in plan.creates) == ["guest", "off"]


def test_two_new_users_with_the_same_email_are_both_skipped_as_duplicates():
    users = {"a": user("a", mail="same@contoso.com"), "b": user("b", given="B", mail="SAME@contoso.com")}
    plan = build([], M365Data(users=users, wanted=[("a", None), ("b", None)]))
    assert plan.creates == [] and {c.reason for c in plan.skipped} == {"duplicate email in M365"}


def test_email_of_a_removed_contact_is_not_reused_by_a_new_user():
    book = [contact(1, "old", archived=True)]
    plan = build(book, M365Data(users={"u1": user("u1")}, wanted=[("u1", None)]))
    assert plan.creates == [] and plan.skipped[0].reason == SkipReason.ARCHIVED


def test_contact_linked_to_another_user_is_not_relinked():
    plan = build(
        [contact(1, "other")],
        M365Data(users={"u1": user("u1")}, wanted=[("u1", None)]),
        Rules(link_active=True),
    )
    assert plan.links == [] and plan.skipped[0].reason == SkipReason.LINKED_ELSEWHERE


def test_group_member_is_created_and_added_to_the_contact_group_once():
    plan = build([], M365Data(users={"u1": user("u1")}, wanted=[("u1", 7), ("u1", 7), ("u1", 8)]))
    assert len(plan.creates) == 1
    assert sorted((c.user_id, c.group_id, c.contact_id) for c in plan.group_adds) == [
        ("u1", 7, None),
        ("u1", 8, None),
    ]


def test_existing_contact_not_in_the_group_is_added():
    plan = build(
        [contact(1, "u1", groups={3})], M365Data(users={"u1": user("u1")}, wanted=[("u1", 3), ("u1", 4)])
    )
    assert [(c.contact_id, c.group_id) for c in plan.group_adds] == [(1, 4)]


def test_linked_contact_is_added_to_the_group():
    book = [contact(1, None)]
    plan = build(book, M365Data(users={"u1": user("u1")}, wanted=[("u1", 5)]), Rules(link_active=True))
    assert [(c.contact_id, c.group_id) for c in plan.group_adds] == [(1, 5)]


def test_member_missing_from_a_group_is_never_removed_from_the_contact_group():
    plan = build([contact(1, "u1", groups={3})], M365Data(users={"u1": user("u1")}, wanted=[]))
    assert plan.is_empty


def test_new_user_cannot_take_an_email_that_an_update_just_claimed():
    book = [contact(1, "u1")]
    users = {"u1": user("u1", mail="new@contoso.com"), "u2": user("u2", given="N", mail="new@contoso.com")}
    plan = build(book, M365Data(users=users, wanted=[("u2", None)]))
    assert plan.updates[0].changes == (("email", "adele.vance@contoso.com", "new@contoso.com"),)
    assert plan.creates == [] and plan.skipped[0].reason == SkipReason.EMAIL_TAKEN


def test_counts_cover_every_kind():
    plan = build(
        synced_book(2),
        M365Data(users={"n": user("n")}, removed={"u1": RemovalReason.SOFT}, wanted=[("n", None)]),
    )
    counts = plan.counts()
    assert counts["creates"] == 1 and counts["removals"] == 1 and counts["skipped"] == 0


def _big_tenant(n):
    """A synced book of `n` contacts, all still in Microsoft, one surname changed, all wanted in a group."""
    book = synced_book(n)
    users = {f"u{i}": user(f"u{i}", f"F{i}", f"L{i}", mail=f"f{i}.l{i}@contoso.com") for i in range(1, n + 1)}
    users["u5"]["surname"] = "Changed"
    return book, M365Data(users=users, full=True, wanted=[(u, 1) for u in users])


def test_big_tenant_plans_the_one_change_and_every_group_add():
    """Behaviour only: how fast planning is stays with bench/ (tests do not assert wall time)."""
    plan = build(*_big_tenant(20000))
    assert [(c.contact_id, c.changes) for c in plan.updates] == [(5, (("last_name", "L5", "Changed"),))]
    assert plan.counts() == {
        "creates": 0,
        "links": 0,
        "restores": 0,
        "updates": 1,
        "group_adds": 20000,
        "removals": 0,
        "holds": 0,
        "releases": 0,
        "kept": 0,
        "skipped": 0,
        "present": 19999,  # wanted and already a contact: every user but the changed one
    }
    assert plan.synced_count == 20000 and not plan.threshold_exceeded


def _lines_run(function, *args):
    """How many Python lines `function(*args)` runs (a loop's every turn counts): work, not time."""
    lines = 0

    def trace(_frame, event, _arg):
        nonlocal lines
        lines += 1
        return trace

    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        function(*args)
    finally:
        sys.settrace(previous)
    return lines


def test_planning_work_grows_linearly_with_the_tenant():
    """Four times the users, about four times the work; a step per (user, contact) pair makes it sixteen."""
    small = _lines_run(build, *_big_tenant(1000))
    large = _lines_run(build, *_big_tenant(4000))
    assert large <= 5 * small, (small, large)


# --- partial delta entries (only the changed properties, `Prefer: return=minimal` style) -------


def test_delta_entry_with_only_the_changed_surname_keeps_first_name_and_email():
    plan = build([contact(1, "u1")], M365Data(users={"u1": {"id": "u1", "surname": "Smith"}}))
    assert [(c.contact_id, c.changes) for c in plan.updates] == [(1, (("last_name", "Vance", "Smith"),))]
    assert plan.skipped == []


def test_delta_entry_with_only_a_changed_display_name_changes_nothing():
    plan = build([contact(1, "u1")], M365Data(users={"u1": {"id": "u1", "displayName": "A. Vance"}}))
    assert plan.is_empty and plan.skipped == []


def test_delta_entry_with_only_a_changed_mail_updates_only_the_email():
    plan = build([contact(1, "u1")], M365Data(users={"u1": {"id": "u1", "mail": "adele@new.example"}}))
    assert plan.updates[0].changes == (("email", "adele.vance@contoso.com", "adele@new.example"),)


def test_delta_entry_clearing_mail_explicitly_is_reported_not_applied():
    plan = build([contact(1, "u1")], M365Data(users={"u1": {"id": "u1", "mail": None}}))
    assert plan.updates == [] and plan.skipped[0].reason == SkipReason.EMAIL_NO_MAILBOX


def test_guest_is_recognised_whatever_the_letter_case():
    wanted = user("u9", userType="guest", userPrincipalName="ann_x.com#ext#@contoso.onmicrosoft.com")
    plan = build([], M365Data(users={"u9": wanted}, wanted=[("u9", None)]))
    assert plan.creates == [] and plan.skipped[0].reason == SkipReason.GUEST


# --- an import in slices (ImportPlanner) ----------------------------------------------------------


def _import_in_slices(contacts, users, wanted, rules, size):
    """ImportPlanner driven as portal.sync.import_slices drives it; -> the parts' changes by kind."""
    planner = p.ImportPlanner(contacts, rules)
    planner.count_emails(users)
    parts = []
    linked = [uid for uid, _gid in wanted if not planner.is_new(uid)]
    for start in range(0, len(linked), size):
        parts.append(planner.present({u: users[u] for u in linked[start : start + size] if u in users}))
    for start in range(0, len(wanted), size):
        chunk = wanted[start : start + size]
        parts.append(
            planner.wanted({u: users[u] for u, _g in chunk if u in users and planner.is_new(u)}, chunk)
        )
    return {
        kind: [c for part in parts for c in getattr(part, kind)]
        for kind in p.SyncPlan.KINDS + ("skipped", "present")
    }


def test_an_import_planned_in_slices_decides_exactly_what_one_plan_decides():
    book = [
        contact(1, "linked", email="linked@contoso.com"),  # its user moves to an address a new user has
        contact(2, "gone", first="Ar", last="Chived", archived=True),  # restored
        contact(3, None, first="Manual", last="Entry", email="manual@contoso.com"),  # linked by email
        contact(4, "same", first="Same", last="Same", email="same.same@contoso.com"),  # present
    ]
    users = {
        "linked": user("linked", mail="taken@contoso.com"),
        "gone": user("gone", given="Ar", surname="Chived"),
        "same": user("same", given="Same", surname="Same"),
        "manual": user("manual", given="Manual", surname="Entry", mail="MANUAL@contoso.com"),
        "first-dup": user("first-dup", given="D1", mail="dup@contoso.com"),
        "taker": user("taker", given="T", mail="taken@contoso.com"),
        "off": user("off", given="Off", accountEnabled=False),
        "nomail": user("nomail", given="No", mail=""),
        "noname": user("noname", given="", surname="", displayName="", mail="noname@contoso.com"),
        **{f"n{i}": user(f"n{i}", given=f"N{i}", surname="New") for i in range(7)},
        "last-dup": user("last-dup", given="D2", mail="Dup@Contoso.com"),
    }
    # The new user taking the moved address and the second duplicate come slices after the others.
    order = ["first-dup", "taker", "off", "nomail", "manual", "noname", "missing", "same"]
    order += [f"n{i}" for i in range(7)] + ["last-dup", "gone", "linked"]
    wanted = [(uid, 9) for uid in order]
    rules = Rules(link_active=True, update_all=False)
    whole = build(book, M365Data(users=users, wanted=wanted), rules)
    expected = {kind: getattr(whole, kind) for kind in p.SyncPlan.KINDS + ("skipped", "present")}
    assert {c.user_id: c.reason for c in whole.skipped}["last-dup"] == "duplicate email in M365"
    assert whole.creates and whole.links and whole.restores and whole.updates and whole.present
    for size in (1, 2, 3, 5, len(order)):
        assert _import_in_slices(book, users, wanted, rules, size) == expected, size

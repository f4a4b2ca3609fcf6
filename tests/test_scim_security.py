"""/scim/v2's boundaries: the token alone names the customer (others' ids answer 404), revoked or
missing tokens 401, writes refused while the Graph sync keeps the book (reads still answer), body
cap, rate limit, no session cookie, a refused request changes nothing, parallel writes take turns
(deletions beside upserts: the threshold's count, and no link to a manager who left)."""

import threading
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select, text

from portal.extensions import db
from portal.models import Contact, ScimActivity, ScimOperation, ScimToken, SyncSettings, utcnow
from portal.models.sync import HeldRemoval
from portal.scim import tokens
from portal.scim.routes import GRAPH_SOURCE
from portal.sync import lock
from tests.scim_helpers import ENTERPRISE, GROUP_SCHEMA, PATCH_OP, PREFIX, Scim, entra_user, provisioned


def _contacts(customer):
    return db.session.scalar(
        select(func.count()).select_from(Contact).where(Contact.customer_id == customer.id)
    )


def test_tokens_scope_every_request_to_their_customer(app, world):
    acme, globex = Scim(app, provisioned(world.acme)), Scim(app, provisioned(world.globex))
    ann = acme.post("/Users", entra_user("ann@acme.example", "ann@acme.example", "oid-ann")).json["id"]
    group = acme.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Acme team"}).json["id"]

    for method, path in (("GET", f"/Users/{ann}"), ("DELETE", f"/Users/{ann}"), ("GET", f"/Groups/{group}")):
        answer = globex.request(method, path)
        assert answer.status_code == 404 and answer.json["status"] == "404"
    assert globex.get('/Users?filter=userName eq "ann@acme.example"').json["totalResults"] == 0
    assert (
        globex.patch(f"/Users/{ann}", [{"op": "replace", "path": "active", "value": False}]).status_code
        == 404
    )
    assert db.session.get(Contact, int(ann)).is_active

    answer = acme.get("/Users")
    assert "Set-Cookie" not in answer.headers and answer.content_type == "application/scim+json"
    anonymous = app.test_client().get(f"{PREFIX}/Users")
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    assert anonymous.json["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]

    token = db.session.scalar(select(ScimToken).where(ScimToken.customer_id == world.acme.id))
    tokens.revoke(token, "alice@acme.example")
    db.session.commit()
    assert acme.get("/Users").status_code == 401


def test_every_scim_route_wants_a_token(app):
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("scim.")]
    assert len(rules) > 10
    client = app.test_client()
    for rule in rules:
        url = rule.build(dict.fromkeys(rule.arguments, "1"), append_unknown=False)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            answer = client.open(url, method=method, json={})
            assert answer.status_code == 401, (method, url, answer.status_code)
            assert "Set-Cookie" not in answer.headers


def test_writes_are_refused_while_the_graph_sync_keeps_the_book(app, world):
    scim = Scim(app, provisioned(world.acme, source="graph"))
    connection_test = scim.get('/Users?filter=userName eq "0b6a1c4e-6ff0-4b8e-9d1b-5d2f3c9a7e11"')
    assert connection_test.status_code == 200 and connection_test.json["Resources"] == []

    refused = scim.post("/Users", entra_user("ann@acme.example", "ann@acme.example", "oid-ann"))
    assert refused.status_code == 403 and refused.json["detail"] == GRAPH_SOURCE
    assert _contacts(world.acme) == 0
    row = db.session.scalars(select(ScimActivity).order_by(ScimActivity.id.desc())).first()
    assert (row.operation, row.status, row.method) == (ScimOperation.REFUSED, 403, "POST")


def test_bad_input_changes_nothing_and_says_why(app, world):
    world.acme.allowed_domains = "acme.example"
    scim = Scim(app, provisioned(world.acme))
    outside = scim.post("/Users", entra_user("x@other.example", "x@other.example", "oid-x"))
    assert outside.status_code == 400 and "acme.example" in outside.json["detail"]
    assert outside.json["scimType"] == "invalidValue"
    for bad_filter in ('userName co "x"', 'nickName eq "x"', 'noSuchAttribute eq "x"', "userName eq"):
        answer = scim.get(f"/Users?filter={bad_filter}")
        assert (answer.status_code, answer.json["scimType"]) == (400, "invalidFilter"), bad_filter
    assert scim.get('/Groups?filter=members eq "x"').json["scimType"] == "invalidFilter"
    too_long = scim.get("/Users?filter=" + " and ".join(['userName eq "x"'] * 200))
    assert (too_long.status_code, too_long.json["scimType"]) == (400, "invalidFilter")
    huge = scim.post("/Users", {"userName": "x" * (app.config["SCIM_MAX_BODY_BYTES"] + 1)})
    assert huge.status_code == 413 and huge.json["status"] == "413"
    assert _contacts(world.acme) == 0
    assert scim.get("/Users?count=100000").json["itemsPerPage"] == 0  # nothing to page, count capped


def test_rate_limit_per_token(app, world):
    app.config.update(SCIM_RATE_PER_SECOND=1, SCIM_RATE_BURST=3)
    scim, other = Scim(app, provisioned(world.acme)), Scim(app, provisioned(world.globex))
    answers = [scim.get("/ServiceProviderConfig") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert int(answers[-1].headers["Retry-After"]) >= 1 and answers[-1].json["status"] == "429"
    assert other.get("/ServiceProviderConfig").status_code == 200  # another customer's token is not starved


def test_parallel_writes_take_turns(app, world):
    secret = provisioned(world.acme)
    scim = Scim(app, secret)
    group = scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "All"}).json["id"]
    ids = [
        scim.post("/Users", entra_user(f"u{n}@acme.example", f"u{n}@acme.example", f"o{n}")).json["id"]
        for n in range(6)
    ]
    headers = {"Authorization": f"Bearer {secret}"}
    requests = [
        (
            "PATCH",
            f"/Groups/{group}",
            {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Add", "path": "members", "value": [{"value": user_id}]}],
            },
        )
        for user_id in [*ids, ids[0], ids[0]]  # three add the same member: one adds it, at once or after
    ] + [
        ("POST", "/Users", entra_user("same@acme.example", f"same{n}@acme.example", f"s{n}"))
        for n in range(2)
    ]
    start, answers = threading.Barrier(len(requests)), []

    def send(method, path, body):
        client = app.test_client()
        start.wait()
        answers.append(client.open(PREFIX + path, method=method, json=body, headers=headers).status_code)

    threads = [threading.Thread(target=send, args=request) for request in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(answers) == sorted([204] * 8 + [201, 409])
    db.session.expire_all()
    members = scim.get(f"/Groups/{group}").json["members"]
    assert sorted(m["value"] for m in members) == sorted(ids)
    same = select(func.count()).select_from(Contact).where(Contact.user_name == "same@acme.example")
    assert db.session.scalar(same) == 1


def test_a_write_waits_for_another_writer_of_the_book_then_answers_503(app, world):
    scim = Scim(app, provisioned(world.acme))
    app.config["SCIM_LOCK_WAIT_SECONDS"] = 0
    assert lock.acquire(world.acme.id, "a held-removal decision")
    busy = scim.post("/Users", entra_user("ann@acme.example", "ann@acme.example", "oid-ann"))
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
    assert _contacts(world.acme) == 0
    lock.release(world.acme.id, "a held-removal decision")
    assert (
        scim.post("/Users", entra_user("ann@acme.example", "ann@acme.example", "oid-ann")).status_code == 201
    )


def _postgresql_only():
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: no lock is shared there")


@contextmanager
def _upsert_in_flight(app, customer_id):
    """For the block: an Entra upsert in flight on a thread of its own, holding the customer's lock
    shared (lock.shared_in_transaction) until the block ends."""
    holding, done = threading.Event(), threading.Event()

    def upsert():
        with app.app_context():
            lock.shared_in_transaction(customer_id)
            holding.set()
            done.wait(30)
            db.session.rollback()

    thread = threading.Thread(target=upsert)
    thread.start()
    assert holding.wait(30)
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=30)


def test_user_upserts_share_the_book_lock_and_other_writers_wait_for_them(app, world):
    """PostgreSQL: Entra's parallel upserts of users (lock.shared_in_transaction) do not wait for each
    other, while a lease holder (a sync, a held-removal decision) waits until they are done. SQLite
    has one writer at a time: there the shared lock is the exclusive one (the tests above)."""
    _postgresql_only()
    customer_id = world.acme.id
    lock.in_transaction(customer_id)  # the customer's lock row exists
    db.session.commit()
    taken = []

    def lease_holder():
        with app.app_context():
            taken.append(lock.acquire(customer_id, "a held-removal decision", wait_seconds=30))

    with _upsert_in_flight(app, customer_id):
        assert lock.shared_in_transaction(customer_id, wait_seconds=0)  # a second upsert goes on at once
        db.session.rollback()
        second = threading.Thread(target=lease_holder)
        second.start()
        second.join(timeout=0.5)
        assert second.is_alive() and not taken  # waits for the upsert in flight
    second.join(timeout=30)
    assert taken == [True]
    with pytest.raises(lock.CustomerBusy):
        lock.shared_in_transaction(customer_id, wait_seconds=0)  # and upserts wait for the holder
    db.session.rollback()
    lock.release(customer_id, "a held-removal decision")


def test_a_token_shows_when_and_from_where_it_was_last_used(app, world):
    secret = provisioned(world.acme)
    token = db.session.scalar(select(ScimToken).where(ScimToken.customer_id == world.acme.id))
    assert token.last_used_at is None
    Scim(app, secret, address="203.0.113.7").get("/Users")
    db.session.refresh(token)
    first_use = token.last_used_at
    assert first_use is not None and token.last_used_from == "203.0.113.7"
    Scim(app, secret, address="203.0.113.7").post(
        "/Users", entra_user("ann@acme.example", "ann@acme.example", "oid-ann")
    )
    db.session.refresh(token)
    assert token.last_used_at == first_use  # written at most once a minute
    Scim(app, secret, address="198.51.100.2").get("/Users")
    db.session.refresh(token)
    assert token.last_used_from == "198.51.100.2" and token.last_used_at == first_use
    assert _contacts(world.acme) == 1  # the write after it kept its own transaction


def test_requests_do_not_queue_to_note_the_tokens_use(app, world):
    """Once a minute every request in flight finds the token's last use out of date: one notes it,
    and the others go on instead of waiting for the token's row one after another (PostgreSQL)."""
    _postgresql_only()
    secret = provisioned(world.acme)
    token = db.session.scalar(select(ScimToken).where(ScimToken.customer_id == world.acme.id))
    token.last_used_at, token.last_used_from = utcnow() - timedelta(hours=1), "203.0.113.7"
    db.session.commit()
    noting = db.session.scalars(  # the row lock of an UPDATE in flight
        select(ScimToken).where(ScimToken.id == token.id).with_for_update(key_share=True)
    ).one()
    request, answers = _in_thread(app, "GET", "/Users", secret=secret)  # another request is noting it
    request.join(timeout=15)
    assert answers == [200]
    db.session.rollback()  # the other request did not note it after all: the next one does
    assert Scim(app, secret).get("/Users").status_code == 200
    db.session.refresh(noting)
    assert noting.last_used_at > utcnow() - timedelta(minutes=1)


def test_a_read_commits_without_waiting_for_the_disk_and_a_write_waits(app, world):
    """A GET wrote only its activity row: PostgreSQL commits it without flushing the log to disk. A
    write's commit (a user Entra was told exists) waits for the disk, as every other commit does."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's")
    scim = Scim(app, provisioned(world.acme))
    scim.get("/Users")  # the token's first use is written in a transaction of its own,
    scim.post("/Users", entra_user("bob@acme.example", "bob@acme.example", "b"))  # the book's lock row too
    settings = []

    def at_commit(connection):
        settings.append(connection.exec_driver_sql("SHOW synchronous_commit").scalar())

    event.listen(db.engine, "commit", at_commit)
    try:
        assert scim.get('/Users?filter=userName eq "ann@acme.example"').status_code == 200
        assert scim.post("/Users", entra_user("ann@acme.example", "ann@acme.example", "a")).status_code == 201
        assert scim.get("/Users/0").status_code == 404
    finally:
        event.remove(db.engine, "commit", at_commit)
    assert settings == ["off", "on", "off"]


def _planner_rows(table):
    """What the planner's statistics say `table` holds: PostgreSQL's estimate of its rows, SQLite's
    sqlite_stat1 count of it (None: no statistics)."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        sql = f"SELECT reltuples FROM pg_class WHERE oid = '{table}'::regclass"
        rows = connection.exec_driver_sql(sql).scalar()
        return None if rows is None or rows < 0 else int(rows)
    if not connection.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").scalar():
        return None
    stat = connection.exec_driver_sql(f"SELECT stat FROM sqlite_stat1 WHERE tbl = '{table}' LIMIT 1").scalar()
    return int(stat.split()[0]) if stat else None


def test_the_book_statistics_follow_what_entra_writes(app, world, monkeypatch):
    """Entra's initial cycle grows a book one request at a time: every STATISTICS_EVERY requests the
    planner learns its size (else a lookup walked every contact of the customer)."""
    from portal.scim import activity

    monkeypatch.setattr(activity, "STATISTICS_EVERY", 4)
    scim = Scim(app, provisioned(world.acme))
    users = (entra_user(f"u{n}@acme.example", f"u{n}@acme.example", f"oid-{n}") for n in range(4))
    assert _planner_rows("contact") != _contacts_in_table()
    while _planner_rows("contact") != _contacts_in_table():
        assert scim.post("/Users", next(users)).status_code == 201  # StopIteration: never learnt
    assert _contacts_in_table() > 0
    if db.engine.dialect.name == "sqlite":  # the next tests' database has none, as a user's
        db.session.execute(text("DROP TABLE sqlite_stat1"))
        db.session.commit()
        db.engine.dispose()


def _contacts_in_table():
    return db.session.scalar(select(func.count()).select_from(Contact))


# --- Entra's deletions beside its upserts (PostgreSQL: SQLite has one writer at a time) ---------------


def _user(scim, name):
    email = f"{name}@acme.example"
    answer = scim.post("/Users", entra_user(email, email, f"oid-{name}", name.title(), "Doe"))
    assert answer.status_code == 201, answer.json
    return int(answer.json["id"])


def _in_thread(app, method, path, body=None, *, secret):
    """Send one SCIM request on a thread of its own; returns (thread, answers: its status once done)."""
    answers = []

    def send():
        answer = app.test_client().open(
            PREFIX + path, method=method, json=body, headers={"Authorization": f"Bearer {secret}"}
        )
        answers.append(answer.status_code)

    thread = threading.Thread(target=send)
    thread.start()
    return thread, answers


def test_a_deletion_runs_beside_an_upsert_and_deletions_take_turns_for_the_threshold(app, world):
    """A DELETE does not wait for Entra's upserts in flight (it shares the book's lock with them), and
    parallel DELETEs still count one another against the deletion threshold: with 3 of 20 over 10 %,
    exactly 2 of 8 are archived and 6 held, whatever their order."""
    _postgresql_only()
    acme = world.acme
    db.session.add(SyncSettings(customer_id=acme.id, delete_threshold_percent=10, delete_threshold_min=3))
    secret = provisioned(acme)
    scim = Scim(app, secret)
    ids = [_user(scim, f"u{n}") for n in range(20)]
    with _upsert_in_flight(app, acme.id):
        deletion, answers = _in_thread(app, "DELETE", f"/Users/{ids[0]}", secret=secret)
        deletion.join(timeout=15)
        assert answers == [204]  # done while the upsert is still in flight

    sent = [_in_thread(app, "DELETE", f"/Users/{user_id}", secret=secret) for user_id in ids[1:8]]
    for thread, _answers in sent:
        thread.join(timeout=60)
    assert [answers for _thread, answers in sent] == [[204]] * 7
    db.session.expire_all()
    archived = [i for i in ids[:8] if db.session.get(Contact, i).archived_at is not None]
    held = set(db.session.scalars(select(HeldRemoval.contact_id)))
    assert len(archived) == 2 and ids[0] in archived
    assert held == set(ids[:8]) - set(archived)


def test_a_contact_is_not_linked_to_a_manager_whose_deletion_is_in_flight(app, world):
    """Entra PATCHes a user's manager while another of its requests deletes that manager: the PATCH
    waits for the deletion, then keeps the manager as an id outside the book (as for any manager
    Entra names who is not in it), never a link to a contact who left."""
    _postgresql_only()
    secret = provisioned(world.acme)
    scim = Scim(app, secret)
    max_id, ann = _user(scim, "max"), _user(scim, "ann")
    deleting = db.session.scalars(select(Contact).where(Contact.id == max_id).with_for_update()).one()
    deleting.archived_at = utcnow()  # a deletion of max in flight, not committed yet
    db.session.flush()
    manager = [{"op": "Replace", "path": f"{ENTERPRISE}:manager", "value": str(max_id)}]
    patch, answers = _in_thread(
        app, "PATCH", f"/Users/{ann}", {"schemas": [PATCH_OP], "Operations": manager}, secret=secret
    )
    patch.join(timeout=0.5)
    assert patch.is_alive()  # it waits for the deletion
    db.session.commit()
    patch.join(timeout=30)
    assert answers == [200]
    db.session.expire_all()
    report = db.session.get(Contact, ann)
    assert (report.manager_id, report.manager_m365_id) == (None, str(max_id))


def test_a_deleted_managers_report_changed_in_flight_keeps_its_change(app, world):
    """Entra deletes a manager while another of its requests gives one of the manager's reports a
    new manager: the deletion waits for that change and leaves the new link as it is (it unlinks
    only the contacts still reporting to the one deleted)."""
    _postgresql_only()
    secret = provisioned(world.acme)
    scim = Scim(app, secret)
    max_id, new_boss, ann = _user(scim, "max"), _user(scim, "zoe"), _user(scim, "ann")
    assert scim.set_manager(ann, max_id).status_code == 200
    changing = db.session.scalars(select(Contact).where(Contact.id == ann).with_for_update()).one()
    boss = db.session.get(Contact, new_boss)
    changing.manager_id, changing.manager_email = boss.id, boss.email  # ann's new manager, in flight
    db.session.flush()
    deletion, answers = _in_thread(app, "DELETE", f"/Users/{max_id}", secret=secret)
    deletion.join(timeout=0.5)
    assert deletion.is_alive()  # it waits for ann's change
    db.session.commit()
    deletion.join(timeout=30)
    assert answers == [204]
    db.session.expire_all()
    assert db.session.get(Contact, max_id).archived_at is not None
    assert db.session.get(Contact, ann).manager_id == new_boss


def test_a_deletion_waiting_for_an_upsert_does_not_hold_up_the_other_deletions(app, world):
    """A deletion that waits for a change in flight (of a contact it manages) waits before it takes
    its turn among the deletions: another user's deletion answers meanwhile."""
    _postgresql_only()
    secret = provisioned(world.acme)
    scim = Scim(app, secret)
    max_id, ann, zed = _user(scim, "max"), _user(scim, "ann"), _user(scim, "zed")
    assert scim.set_manager(ann, max_id).status_code == 200
    db.session.scalars(select(Contact).where(Contact.id == ann).with_for_update()).one()  # ann's change
    first, first_answers = _in_thread(app, "DELETE", f"/Users/{max_id}", secret=secret)
    first.join(timeout=0.5)
    assert first.is_alive()  # it waits for ann's change
    second, second_answers = _in_thread(app, "DELETE", f"/Users/{zed}", secret=secret)
    second.join(timeout=15)
    assert second_answers == [204] and first.is_alive()
    db.session.commit()
    first.join(timeout=30)
    assert first_answers == [204]
    db.session.expire_all()
    assert db.session.get(Contact, max_id).archived_at is not None


def test_a_users_deletion_does_not_wait_for_its_managers_deletion_in_flight(app, world):
    """Entra deletes a manager and a report of theirs at once (a team leaving). The report's deletion
    looks up no manager for the user who left: it does not wait for the manager's deletion."""
    _postgresql_only()
    secret = provisioned(world.acme)
    scim = Scim(app, secret)
    max_id, ann = _user(scim, "max"), _user(scim, "ann")
    assert scim.set_manager(ann, max_id).status_code == 200
    db.session.scalars(select(Contact).where(Contact.id == max_id).with_for_update()).one()  # max's deletion
    deletion, answers = _in_thread(app, "DELETE", f"/Users/{ann}", secret=secret)
    deletion.join(timeout=15)
    assert answers == [204]
    db.session.commit()
    db.session.expire_all()
    report = db.session.get(Contact, ann)
    assert report.archived_at is not None and report.manager_id == max_id  # left with its manager as it was

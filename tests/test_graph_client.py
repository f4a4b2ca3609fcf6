"""The one Graph client, over real HTTP against the M365 emulator: paging, refresh rotation,
retries of 429/503, one refresh on 401, and the typed errors that flip the connection."""

import time

import pytest
from sqlalchemy import select, text

from portal.extensions import db
from portal.m365 import tokens
from portal.m365.graph import (
    DeltaExpired,
    GraphError,
    GraphUnavailable,
    PermissionMissing,
    ReauthRequired,
)
from portal.models import M365Connection
from portal.models.outbox import OutboxMail
from portal.sync.connection import graph_client
from tests import m365_helpers as m365


@pytest.fixture
def connection(app, world, emulator):
    """Acme connected to the emulator's demo tenant through the real sign-in."""
    m365.connect_customer(app, emulator, world.acme, world.alice, recipients="it@acme.example")
    connection = db.session.scalar(select(M365Connection))
    assert connection is not None, "the sign-in did not store a connection"
    return connection


def stored_token(connection):
    db.session.expire_all()
    return tokens.decrypt(db.session.get(M365Connection, connection.id).refresh_token_encrypted)


def test_lists_users_and_groups_with_select(connection):
    with graph_client(connection) as graph:
        users = graph.list_users()
        groups = graph.list_groups()
    assert len(users) > 100 and all("userPrincipalName" in u for u in users)
    assert {"Sales Team", "All Company"} <= {g["displayName"] for g in groups}
    assert graph.request_count == 2 and graph.resource_units >= 2


def test_follows_next_links_and_resends_consistency_level_on_every_page(connection, app):
    app.config["M365_GRAPH_PAGE_SIZE"] = 25
    with graph_client(connection) as graph:
        users = graph.list_users()
        everyone = next(g for g in graph.list_groups() if g["displayName"] == "All Company")
        requests_before = graph.request_count
        member_ids = graph.group_member_ids(everyone["id"], transitive=True)
    assert len({u["id"] for u in users}) == len(users) > 100
    # The transitive cast is refused by Graph without ConsistencyLevel; several pages prove it is resent.
    assert graph.request_count - requests_before > 1 and len(member_ids) > 25


def test_get_user_answers_none_for_a_missing_user(connection):
    with graph_client(connection) as graph:
        assert graph.get_user("00000000-0000-0000-0000-000000000000") is None
        some = graph.list_users()[0]
        assert graph.get_user(some["id"])["id"] == some["id"]


def test_each_refresh_persists_the_rotated_token_at_once(connection):
    before = stored_token(connection)
    with graph_client(connection) as graph:
        graph.list_users()
    after = stored_token(connection)
    assert after and after != before and after == graph.refresh_token
    db.session.rollback()  # the caller's work failing does not lose the new token
    assert stored_token(connection) == after
    with graph_client(db.session.get(M365Connection, connection.id)) as graph:
        graph.list_users()  # the persisted token works


def test_stored_token_is_not_readable_in_the_raw_database(connection):
    plain = stored_token(connection)
    raw = db.session.execute(text("SELECT * FROM m365_connection")).one()
    assert plain not in " ".join(str(value) for value in raw)


def token_requests(emulator):
    """How many requests the emulator's token endpoint has answered (a refresh is one)."""
    return sum(1 for entry in emulator.log() if entry["path"].endswith("/oauth2/v2.0/token"))


def graph_statuses(emulator, path):
    """The status of each request to the Graph `path`, in order."""
    return [entry["status"] for entry in emulator.log() if entry["path"] == path]


def test_429_is_retried_after_retry_after_and_counted(connection, faults, emulator):
    faults("/v1.0/users", 429, retry_after=0.2, times=2)
    started = time.monotonic()
    with graph_client(connection) as graph:
        users = graph.list_users()
    assert users
    assert graph.request_count == 3 and graph_statuses(emulator, "/v1.0/users")[-3:] == [429, 429, 200]
    assert time.monotonic() - started >= 0.4


def test_503_is_retried_with_backoff_and_counted(connection, faults, emulator):
    faults("/v1.0/groups", 503, times=2)
    with graph_client(connection) as graph:
        assert graph.list_groups()
    assert graph.request_count == 3 and graph_statuses(emulator, "/v1.0/groups")[-3:] == [503, 503, 200]


def test_retries_are_bounded_then_graph_unavailable(connection, faults):
    faults("/v1.0/users", 503, times=None)
    with graph_client(connection) as graph:
        with pytest.raises(GraphUnavailable):
            graph.list_users()
    assert graph.request_count == 4  # M365_GRAPH_MAX_ATTEMPTS in the test config
    db.session.expire_all()
    assert db.session.get(M365Connection, connection.id).status == "ok"


def test_retry_after_beyond_the_wait_budget_fails_at_once(connection, faults):
    faults("/v1.0/users", 429, retry_after=30, times=1)
    started = time.monotonic()
    with graph_client(connection) as graph:
        with pytest.raises(GraphUnavailable):
            graph.list_users()
    assert time.monotonic() - started < 2


def test_401_triggers_one_refresh_then_succeeds(connection, faults, emulator):
    before = token_requests(emulator)
    with graph_client(connection) as graph:
        graph.list_groups()
        assert token_requests(emulator) - before == 1
        faults("/v1.0/users", 401, times=1)
        assert graph.list_users()
    assert token_requests(emulator) - before == 2 and graph.request_count == 3


def test_expired_access_token_is_refreshed(connection, emulator):
    before = token_requests(emulator)
    with graph_client(connection) as graph:
        graph.list_groups()
        emulator.control("POST", "/_emulator/tokens/expire", {})
        assert graph.list_users()
    assert token_requests(emulator) - before == 2


def test_a_second_401_fails(connection, faults, emulator):
    faults("/v1.0/users", 401, times=2)
    before = token_requests(emulator)
    with graph_client(connection) as graph:
        with pytest.raises(GraphError) as error:
            graph.list_users()
    assert error.value.status == 401 and token_requests(emulator) - before == 2


def test_invalid_grant_flips_the_connection_and_notifies_once(connection, emulator):
    from portal.models.outbox import OutboxMail

    emulator.control("POST", "/_emulator/tokens/revoke", {})
    for _attempt in range(2):
        with graph_client(db.session.get(M365Connection, connection.id)) as graph:
            with pytest.raises(ReauthRequired) as error:
                graph.list_users()
        db.session.commit()
    assert "AADSTS50173" in error.value.message
    db.session.expire_all()
    stored = db.session.get(M365Connection, connection.id)
    assert stored.needs_reauth and "AADSTS50173" in stored.status_reason
    assert len(db.session.scalars(select(OutboxMail).where(OutboxMail.kind == "reauth_required")).all()) == 1


def test_403_raises_permission_missing_and_flips_the_connection(connection, faults):
    faults("/v1.0/users", 403, times=1)
    with graph_client(connection) as graph:
        with pytest.raises(PermissionMissing):
            graph.list_users()
    db.session.expire_all()
    stored = db.session.get(M365Connection, connection.id)
    assert stored.needs_reauth and "refused read access" in stored.status_reason


def test_users_fetched_ahead_are_the_pages_of_iter_users(app, connection):
    app.config["M365_GRAPH_PAGE_SIZE"] = 100
    with graph_client(connection) as graph:
        pages = list(graph.iter_users())
        ahead = list(graph.iter_users_ahead())
    assert len(pages) > 2 and ahead == pages


def test_hooks_of_a_thread_fetching_ahead_run_in_the_callers_thread(app, connection, faults):
    """The refresh (a rotated token) and the lost authorisation met while fetching ahead are
    written by the caller's thread, before the page or the error they came with."""
    app.config["M365_GRAPH_PAGE_SIZE"] = 100
    before = stored_token(connection)
    faults("/v1.0/users", 403, after=1, times=1)  # the first page refreshes, the second is refused
    with graph_client(connection) as graph:
        pages = graph.iter_users_ahead()
        assert next(pages)
        assert stored_token(connection) == graph.refresh_token != before
        with pytest.raises(PermissionMissing):
            next(pages)
    db.session.commit()  # the notice is queued in the caller's session
    stored = db.session.get(M365Connection, connection.id)
    assert stored.needs_reauth and "refused read access" in stored.status_reason
    assert len(db.session.scalars(select(OutboxMail).where(OutboxMail.kind == "reauth_required")).all()) == 1


def test_users_delta_round_and_expired_token(connection, emulator):
    with graph_client(connection) as graph:
        first = graph.users_delta()
        assert first.items and "$deltatoken" in first.delta_link
        again = graph.users_delta(first.delta_link)
        assert again.delta_link
        emulator.control("POST", "/_emulator/clock", {"advance_days": 8})
        with pytest.raises(DeltaExpired):
            graph.users_delta(again.delta_link)


def test_groups_delta_carries_members(connection):
    with graph_client(connection) as graph:
        page = graph.groups_delta()
    assert any("members@delta" in item for item in page.items)


def test_microsoft_unreachable_raises_graph_unavailable(connection, app):
    app.config["M365_GRAPH_URL"] = "http://127.0.0.1:9/v1.0"
    with graph_client(connection) as graph:
        with pytest.raises(GraphUnavailable):
            graph.list_users()


def test_group_member_ids_are_users_only_with_nested_groups_flattened(connection):
    with graph_client(connection) as graph:
        user_ids = {u["id"] for u in graph.list_users()}
        groups = {g["displayName"]: g["id"] for g in graph.list_groups()}
        rooms = graph.group_member_ids(groups["Meeting Rooms"])  # holds a device
        newsletter = graph.group_member_ids(groups["Newsletter Recipients"])  # holds an orgContact
        nested = graph.group_member_ids(groups["All Departments"])  # only groups directly
        direct = graph.group_member_ids(groups["All Departments"], transitive=False)
    assert set(rooms) <= user_ids and set(newsletter) <= user_ids
    assert nested and set(nested) <= user_ids and len(direct) < len(nested)

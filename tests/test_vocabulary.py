"""One vocabulary (portal.models.vocabulary): stored values stay the strings rows already hold, and the
German history, run, preview and removed-contacts pages show every skip and removal reason in German."""

import html
from datetime import timedelta

from flask_babel import force_locale

from portal import book
from portal.extensions import db
from portal.models import Contact, Job, JobKind, JobStatus, utcnow
from portal.models.sync import SyncChange, SyncRun
from portal.models.vocabulary import ChangeKind, RemovalReason, RunKind, SkipReason
from portal.queue import enqueue
from portal.sync.apply import apply_plan
from portal.sync.plan import Change, SyncPlan
from portal.sync.service import Preview
from portal.sync.tasks import preview_result

GERMAN = {"Accept-Language": "de-DE,de;q=0.9"}
REASONS = list(RemovalReason) + list(SkipReason)


def test_stored_values_are_the_strings_existing_rows_hold():
    assert [k.value for k in ChangeKind] == (
        "create link restore update group_add remove hold release keep skip present group_join group_leave"
    ).split()
    assert [k.value for k in RunKind] == ["sync", "import", "decision", "restore", "edit", "provisioning"]
    assert [r.value for r in RemovalReason] == ["deleted", "deleted permanently", "not found"]
    assert SkipReason.NO_MAILBOX == "no mailbox address" and SkipReason.EMAIL_TAKEN == (
        "another contact has this email address"
    )
    assert ChangeKind.of_plural("removals") is ChangeKind.REMOVE and SyncPlan.KINDS[-1] == "kept"


def german(app, *members):
    with app.test_request_context(), force_locale("de"):
        return {member: str(member.label) for member in members}


def _contact(customer, email):
    contact = Contact(customer_id=customer.id, first_name="Ex", last_name=email[:8], origin="m365")
    contact.m365_user_id = f"user-{email}"
    contact.set_email(email)
    db.session.add(contact)
    return contact


def _plan(customer):
    """A plan with a removal and a held removal for each removal reason and a skip for each skip reason."""
    removed = [_contact(customer, f"removed-{i}@acme.example") for i, _r in enumerate(RemovalReason)]
    held = [_contact(customer, f"held-{i}@acme.example") for i, _r in enumerate(RemovalReason)]
    db.session.flush()
    return SyncPlan(
        removals=[
            Change(ChangeKind.REMOVE, c.m365_user_id, c.full_name, c.email, c.id, reason=reason)
            for c, reason in zip(removed, RemovalReason, strict=True)
        ],
        holds=[
            Change(ChangeKind.HOLD, c.m365_user_id, c.full_name, c.email, c.id, reason=reason)
            for c, reason in zip(held, RemovalReason, strict=True)
        ],
        skipped=[
            Change(ChangeKind.SKIP, f"skipped-{i}", f"Person {i}", f"person-{i}@acme.example", reason=reason)
            for i, reason in enumerate(SkipReason)
        ],
    )


def _a_run_with_every_reason(customer):
    now = utcnow() - timedelta(minutes=5)
    run = SyncRun(customer_id=customer.id, kind=RunKind.SYNC, trigger="daily", status="held", started_at=now)
    db.session.add(run)
    db.session.flush()
    plan = _plan(customer)
    run.counts = {key: n for key, n in apply_plan(plan, customer, run, now).items() if n}
    run.finished_at = now + timedelta(seconds=3)
    db.session.commit()
    return run, plan


def _page(client, url):
    response = client.get(url, headers=GERMAN)
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def _shows_in_german(page, labels):
    for member, label in labels.items():
        assert label != member.message, f"{member!r} has no German label"
        assert label in page, f"{label!r} ({member!r}) is missing"
        assert member.message not in page, f"the English {member.message!r} is shown"


def test_german_history_run_preview_and_removed_pages_show_every_reason_in_german(app, alice_client, world):
    run, plan = _a_run_with_every_reason(world.acme)
    assert {c.detail for c in db.session.query(SyncChange).filter_by(run_id=run.id)} == set(REASONS)
    job = enqueue(JobKind.PREVIEW, world.acme)
    job.status, job.finished_at = JobStatus.SUCCEEDED, utcnow()
    job.result = {**preview_result(Preview(plan=plan)), "book_state": book.state(world.acme)}  # as of now
    db.session.commit()
    assert db.session.get(Job, job.id).result["skipped"][0]["reason"] == SkipReason.NO_MAILBOX

    history = _page(alice_client, "/sync/history")
    counted = [ChangeKind.REMOVE, ChangeKind.HOLD, ChangeKind.SKIP]
    with app.test_request_context(), force_locale("de"):
        count_labels = [str(kind.count_label) for kind in counted]
    assert all(f"{label}: " in history for label in count_labels), count_labels
    assert not any(f"{kind.counted}: " in history for kind in counted)
    _shows_in_german(history, german(app, RunKind.SYNC))

    every_reason = german(app, *REASONS)
    _shows_in_german(_page(alice_client, f"/sync/history/{run.id}"), every_reason)
    for kind in (ChangeKind.REMOVE, ChangeKind.SKIP):
        _shows_in_german(_page(alice_client, f"/sync/history/{run.id}?kind={kind}"), german(app, kind))
    _shows_in_german(_page(alice_client, "/sync/preview"), every_reason)

    for change in plan.removals:  # "Removed contacts" shows the archived ones' reasons
        assert db.session.get(Contact, change.contact_id).archive_reason == change.reason.message
    _shows_in_german(_page(alice_client, "/contacts/removed"), german(app, *RemovalReason))

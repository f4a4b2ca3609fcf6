"""Several runners share the daily sync of many customers: each customer is synced exactly once."""

import threading

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Job, JobKind
from portal.models.sync import SyncRun
from portal.runner import DailyAt, Runner
from portal.sync import tasks
from tests.conftest import DATABASE_URL
from tests.sync_helpers import clone_customers

pytestmark = pytest.mark.skipif(
    not DATABASE_URL.startswith("postgresql"),
    reason="several runner processes share one queue on PostgreSQL; SQLite lets one writer in at a time",
)


def test_three_runners_sync_thirty_customers_each_exactly_once(app, connected_acme, emulator):
    customers = [connected_acme, *clone_customers(connected_acme, 29, emulator)]
    daily = [DailyAt("SYNC_DAILY_AT", tasks.enqueue_daily_syncs)]
    runners = [Runner(app, owner=f"runner-{n}", periodic=daily, concurrency=2) for n in range(3)]
    start = threading.Barrier(len(runners))

    def run(runner):
        runner.setup()
        start.wait()
        runner.run_all_periodic()  # all three queue the day's syncs at once
        runner.run_until_idle()

    threads = [threading.Thread(target=run, args=(runner,)) for runner in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    db.session.expire_all()
    jobs = db.session.scalars(select(Job).where(Job.kind == JobKind.SYNC)).all()
    assert sorted(job.customer_id for job in jobs) == sorted(c.id for c in customers)
    assert {(job.status, job.attempts) for job in jobs} == {("succeeded", 1)}
    runs = dict(
        db.session.execute(
            select(SyncRun.customer_id, func.count())
            .where(SyncRun.kind == "sync", SyncRun.status == "succeeded", SyncRun.trigger == "daily")
            .group_by(SyncRun.customer_id)
        ).all()
    )
    assert runs == {c.id: 1 for c in customers}
    assert db.session.scalar(select(func.count()).select_from(SyncRun)) == len(customers)

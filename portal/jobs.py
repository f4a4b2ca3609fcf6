"""The database is the queue. CONTRACT (implemented with the runner work; others code against it):

    job = enqueue(kind, customer, params=None, created_by=None)   # adds a queued Job (caller commits)
    @handler("kind") def run(job): ...      # registers what the runner does for a kind; the handler
                                            # reports progress with report_progress(job, done, total)
                                            # and returns a JSON-able result dict
    claim_next(owner, lease_seconds) -> Job | None   # conditional UPDATE; one runner wins
    run_job(job, owner)                     # runs the handler, marks succeeded/failed
    active_job(customer, kind) -> Job | None  # queued or running job of that kind, for the UI
"""

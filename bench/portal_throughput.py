"""Portal throughput: the contact search fragment under gunicorn (deploy/gunicorn.conf.py).

    .venv/bin/python bench/portal_throughput.py [--contacts 100000] [--seconds 15] [--clients 8]
        [--database-url URL]

Seeds one customer's book (bench/contacts_list.py's seed) into a scratch database, starts gunicorn
with the production config in its own process, and lets --clients threads (keep-alive connections,
one signed-in session) request live-search fragments (`/contacts/?q=...`, HX-Request) with rotating
terms for --seconds. Prints requests/s and the latency percentiles; `BENCH` lines for bench/run.py.
The load generator shares the machine's cores with gunicorn: the figures are a lower bound.
"""

import argparse
import http.client
import os
import statistics
import threading
import time
from urllib.parse import quote

from contacts_list import seed
from harness import (
    SECRET_KEY,
    TOKEN_KEY,
    emit,
    free_port,
    portal_app,
    scratch_database,
    signed_in_client,
)
from harness import start_gunicorn as harness_gunicorn

from portal.extensions import db

TERMS = ["schmidt", "anna weber", "müller", "12345", "zzzz", "wolf", "karin", "noah.k", "becker 7", "greta"]


def start_gunicorn(url, port):
    env = dict(
        os.environ, DATABASE_URL=url, SECRET_KEY=SECRET_KEY, TOKEN_ENCRYPTION_KEY=TOKEN_KEY, MAIL_SERVER=""
    )
    return harness_gunicorn(env, port)


def cpu_seconds(pid):
    """User + system CPU seconds the process `pid` has used so far (Linux /proc); 0 once it ended."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def processes(predicate):
    """The pids of the processes whose (ppid, command line) satisfy `predicate`."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if predicate(ppid, command):
            pids.append(int(entry))
    return pids


class CpuShare:
    """Where the CPU went during a run: gunicorn (master and workers), the database server's
    processes (PostgreSQL's backends on this machine, also those that connected meanwhile), and
    this load generator."""

    def __init__(self, server):
        self.server = server
        self.start = self.now()

    def now(self):
        web = [self.server.pid, *processes(lambda ppid, _cmd: ppid == self.server.pid)]
        database = processes(lambda _ppid, cmd: cmd.startswith("postgres"))
        return (
            {pid: cpu_seconds(pid) for pid in web},
            {pid: cpu_seconds(pid) for pid in database},
            {"self": time.process_time()},
        )

    def per_request(self, requests):
        """(web, database, load generator) CPU milliseconds per request since the start."""
        spent = zip(self.start, self.now(), strict=True)
        return tuple(
            sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items()) * 1000 / requests
            for before, after in spent
        )


def hammer(port, cookie, seconds, clients):
    """(latencies in ms, errors) of `clients` threads asking for search fragments for `seconds`."""
    headers = {"Cookie": cookie, "HX-Request": "true"}
    latencies, errors, lock = [], [], threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(offset):
        connection, mine, n = http.client.HTTPConnection("127.0.0.1", port, timeout=30), [], offset
        while time.monotonic() < stop_at:
            path = f"/contacts/?q={quote(TERMS[n % len(TERMS)])}"
            n += 1
            started = time.perf_counter()
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            mine.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                with lock:
                    errors.append(response.status)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--database-url", help="a PostgreSQL database to use (a scratch schema in it)")
    args = parser.parse_args()
    with scratch_database(args.database_url) as url:
        app = portal_app(url)
        with app.app_context():
            admin, _customer, _groups = seed(args.contacts)
            client = signed_in_client(app, admin)
            cookie = f"session={client.get_cookie('session').value}"
            dialect = db.engine.dialect.name
            db.session.remove()
            db.engine.dispose()
        port = free_port()
        server = start_gunicorn(url, port)
        try:
            hammer(port, cookie, 2, args.clients)  # warm-up: workers, caches
            share = CpuShare(server)
            latencies, errors = hammer(port, cookie, args.seconds, args.clients)
            cpu = share.per_request(len(latencies))
        finally:
            server.terminate()
            server.wait(timeout=30)
    rate = len(latencies) / args.seconds
    p95 = statistics.quantiles(latencies, n=100)[94]
    median = statistics.median(latencies)
    print(f"{dialect}: {len(latencies)} requests, {rate:.0f}/s, median {median:.1f} ms, p95 {p95:.1f} ms")
    busiest = os.cpu_count() * 1000 / sum(cpu)
    print(
        "CPU per request: web {:.1f} ms, database {:.1f} ms, load generator {:.1f} ms: "
        "at most {:.0f} requests/s on {} CPUs".format(*cpu, busiest, os.cpu_count())
    )
    note = (
        f"{args.contacts:,} contacts, {dialect}, {args.clients} client threads, {len(errors)} errors; "
        "CPU per request: web {:.1f} ms, database {:.1f} ms, load generator {:.1f} ms".format(*cpu)
    )
    emit("portal: search fragment throughput (gunicorn)", round(rate), "req/s", min=200, note=note)
    emit("portal: search fragment p95 under that load", round(p95, 1), "ms", max=50, note=note)


if __name__ == "__main__":
    main()

"""`make bench`: run the benchmark scripts, print ONE markdown table, write it to bench/results.md.

    .venv/bin/python bench/run.py [--large] [--database-url URL] [--only NAME ...]

Each script prints `BENCH {json}` lines (bench/harness.emit: name, value, unit, floor, max or min,
note); this collects them into a table of figure, floor, ratio, target and whether it holds. A
script that fails is named in the table; the others still run. --large adds the 100,000-user case.
PostgreSQL figures use --database-url (default: the local test server, if it answers).
Each script's rows are also kept in bench/results.json, with when they were measured: --only runs
the scripts named and keeps the other scripts' rows of the last run in the table.
"""

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

HERE = Path(__file__).resolve().parent
LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
KEPT = HERE / "results.json"  # each script's rows of its last run: {name: {"at": ..., "rows": [...]}}


def scripts(large, pg_url):
    """(name, argv) of each benchmark, in the order they run."""
    sizes = ["10000", "50000", *(["100000"] if large else [])]
    pg = ["--database-url", pg_url] if pg_url else []
    runs = [
        ("import_scale", ["import_scale.py", "--users", *sizes, "--latency-ms", "50"]),
        ("many_customers", ["many_customers.py", "--customers", "200", "--users", "1000", *pg]),
        ("portal_throughput", ["portal_throughput.py", "--contacts", "100000", *pg]),
        ("csv_import", ["csv_import.py", "--contacts", "10000", "50000"]),
    ]
    if pg_url:
        runs.append(("csv_import (PostgreSQL)", ["csv_import.py", "--contacts", "10000", "50000", *pg]))
    # A new user's book (5,000, 20,000 contacts) and a large one, entered by CSV import.
    searches = [
        (f"search (SQLite, {n})", ["search.py", "--contacts", n]) for n in ("5000", "20000", "100000")
    ]
    if pg_url:
        searches.append(("search (PostgreSQL, 100000)", ["search.py", "--pg", pg_url]))
    # The attribute and team filters on a book imported from the emulator's generated tenant.
    searches.append(("filters (SQLite, 100000)", ["filters.py", "--users", "100000"]))
    if pg_url:
        searches.append(("filters (PostgreSQL, 100000)", ["filters.py", "--users", "100000", "--pg", pg_url]))
    # Entra provisioning: the emulator's driver against /scim/v2 under gunicorn, at the target's 200
    # requests a second and as fast as answered. SQLite, one writer at a time, answers fewer than 200:
    # only how many it sustains.
    runs.append(("scim (SQLite)", ["scim.py", "--users", "10000", "--groups", "50", "--rate", "0"]))
    if pg_url:
        runs.append(("scim (PostgreSQL)", ["scim.py", "--users", "10000", "--groups", "50", "--pg", pg_url]))
    return searches + runs


def postgres_url(url):
    """`url`, or the local test server when it answers; None: PostgreSQL figures are left out."""
    url = url or os.environ.get("BENCH_DATABASE_URL") or LOCAL_POSTGRES
    try:
        engine = create_engine(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return url
    except Exception as error:
        print(f"no PostgreSQL at {url} ({error.__class__.__name__}): SQLite only", file=sys.stderr)
        return None


def run_script(name, argv):
    """Run one script, echo its output, return its BENCH rows (or one row naming its failure)."""
    print(f"== {name}: {' '.join(argv)}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, *argv], cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    rows = []
    for line in process.stdout:
        if line.startswith("BENCH "):
            rows.append(json.loads(line[6:]))
        else:
            print(f"   {line.rstrip()}", file=sys.stderr, flush=True)
    if process.wait() != 0:
        rows.append({"name": f"{name}: the script failed (exit {process.returncode})", "value": None})
    print(f"   ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    return rows


def cell(number):
    if number is None:
        return "—"
    return f"{number:,.0f}" if abs(number) >= 100 or float(number).is_integer() else f"{number:,.2f}"


def table(rows):
    """The markdown table: figure, floor, ratio, target, holds."""
    lines = ["| figure | value | floor | ratio | target | holds |", "|---|---|---|---|---|---|"]
    for row in rows:
        value, floor, unit = row.get("value"), row.get("floor"), row.get("unit", "")
        ratio = f"{value / floor:.2f}×" if value is not None and floor else "—"
        if row.get("max") is not None:
            target, holds = f"≤ {cell(row['max'])} {unit}", value is not None and value <= row["max"]
        elif row.get("min") is not None:
            target, holds = f"≥ {cell(row['min'])} {unit}", value is not None and value >= row["min"]
        else:
            target, holds = "—", None
        name = row["name"] + (f" ({row['note']})" if row.get("note") else "")
        verdict = {True: "yes", False: "**no**", None: "—"}[holds if value is not None else False]
        shown = f"{cell(value)} {unit}" if value is not None else "failed"
        lines.append(f"| {name} | {shown} | {cell(floor)} | {ratio} | {target} | {verdict} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="add the 100,000-user case")
    parser.add_argument("--database-url", help=f"PostgreSQL for its figures (default {LOCAL_POSTGRES})")
    parser.add_argument("--only", nargs="+", help="run only these scripts (names without .py)")
    args = parser.parse_args()
    command = "make bench" + (f" BENCH_ARGS={shlex.quote(' '.join(sys.argv[1:]))}" if sys.argv[1:] else "")
    load, started = os.getloadavg()[0], time.perf_counter()
    kept = json.loads(KEPT.read_text(encoding="utf-8")) if args.only and KEPT.exists() else {}
    measured = {}
    for name, argv in scripts(args.large, postgres_url(args.database_url)):
        if not args.only or name in args.only:
            measured[name] = {"at": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "rows": run_script(name, argv)}
    minutes = (time.perf_counter() - started) / 60
    everything = {**kept, **measured}
    KEPT.write_text(json.dumps(everything, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    result = table([row for script in everything.values() for row in script["rows"]])
    others = sorted(set(kept) - set(measured))
    kept_note = f"Kept from earlier runs (dated in bench/results.json): {', '.join(others)}.\n" * bool(others)
    print(result)
    header = (
        f"# Benchmark results\n\n`{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: "
        f"{os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}; load average "
        f"{load:.2f} at the start (other work on the machine makes figures noisy); {minutes:.1f} minutes.\n"
        "Graph figures: the emulator in its own process, 50 ms per request; floor = Graph requests × "
        "latency (or the request floor itself); the measured code runs as a child process.\n"
        "Data as a user's: every database is made by the migrations; contacts enter through the CSV "
        "import pages (upload, preview, confirm), the directory through Manual mode's load and import "
        "(the filters' book: the emulator's generated tenant with attributes and a manager tree); "
        "no statistics step of the benchmark's own (the portal's own, after an import of 1,000 "
        "contacts or more, is one a user's database gets too).\n"
        f"{kept_note}\n"
    )
    (HERE / "results.md").write_text(header + result + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

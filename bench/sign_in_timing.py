"""Does a disabled account answer like a wrong password? Prints figures; asserts nothing.

    .venv/bin/python bench/sign_in_timing.py [--runs 7]

Times full sign-in requests through the app on a temporary SQLite database: a wrong password for
an enabled account, and the right password for a disabled one. Both must take an argon2 check
(hundreds of milliseconds), so the answer time does not tell an attacker which accounts exist
but are disabled.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import AdminUser  # noqa: E402

PASSWORD = "right-password-1"


def make_app():
    path = os.path.join(tempfile.mkdtemp(prefix="bench-sign-in-"), "bench.db")
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
            "WTF_CSRF_ENABLED": False,
            "SECRET_KEY": "bench",
            "SIGN_IN_MAX_FAILURES_PER_ACCOUNT": 10_000,
            "SIGN_IN_MAX_FAILURES_PER_ADDRESS": 10_000,
        }
    )
    with app.app_context():
        db.create_all()
        for email, enabled in (("enabled@bench.example", True), ("disabled@bench.example", False)):
            admin = AdminUser(email=email, role="operator", is_enabled=enabled)
            admin.set_password(PASSWORD)
            db.session.add(admin)
        db.session.commit()
    return app


def median_ms(client, email, password, runs):
    times, statuses = [], set()
    for _ in range(runs):
        start = time.perf_counter()
        statuses.add(client.post("/login", data={"email": email, "password": password}).status_code)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, statuses


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    client = make_app().test_client()
    print("| sign-in | median | HTTP status |\n| --- | --- | --- |")
    for label, email, password in (
        ("enabled account, wrong password", "enabled@bench.example", "nope"),
        ("disabled account, right password", "disabled@bench.example", PASSWORD),
    ):
        ms, statuses = median_ms(client, email, password, args.runs)
        print(f"| {label} | {ms:.0f} ms | {', '.join(map(str, sorted(statuses)))} |")


if __name__ == "__main__":
    main()

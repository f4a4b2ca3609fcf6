"""`python -m m365_emulator entra-push`: a provisioning cycle of Microsoft Entra ID against a Tenant URL.

    python -m m365_emulator entra-push --url http://127.0.0.1:5000/scim/v2 --token TOKEN
        [--cycle initial|incremental|test] [--flag] [--workers 8]
        [--emulator http://127.0.0.1:5001 | --tenant demo|generated:N|FILE.json [--seed S] [--state FILE]]

By default the running emulator (`make run`'s, on EMULATOR_PORT or 5001) runs the cycle from its
directory, so changes made on its console reach the portal and what was pushed is remembered there.
With --tenant the cycle runs here from that tenant, remembering what was pushed in --state (JSON).
`--cycle test` is Entra's Test Connection. Prints the summary; exit 1 when a request failed.
"""

import argparse
import json
import os
import sys

import requests

from . import entra_provisioning as entra
from .directory import Directory
from .state import load_tenant_data


def main(argv):
    parser = argparse.ArgumentParser(prog="python -m m365_emulator entra-push", description=__doc__)
    parser.add_argument("--url", default=entra.default_tenant_url(), help="the portal's Tenant URL")
    parser.add_argument("--token", required=True, help="the Secret Token")
    parser.add_argument("--cycle", choices=("initial", "incremental", "test"), default="incremental")
    parser.add_argument("--flag", action="store_true", help="Entra's aadOptscim062020 behaviour")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--emulator", default=f"http://127.0.0.1:{os.environ.get('EMULATOR_PORT') or 5001}")
    parser.add_argument("--tenant", help="run here from this tenant instead of the running emulator")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--state", help="with --tenant: JSON file of what was pushed (read and written)")
    args = parser.parse_args(argv)
    result = _local(args) if args.tenant else _remote(args)
    print(json.dumps(result, ensure_ascii=False, indent=1))
    failed = result.get("errors") if "errors" in result else not result.get("ok")
    return 1 if failed else 0


def _remote(args):
    body = {"url": args.url, "token": args.token, "flag": args.flag, "workers": args.workers}
    path = "test" if args.cycle == "test" else "run"
    if args.cycle != "test":
        body["cycle"] = args.cycle
    try:
        response = requests.post(f"{args.emulator}/_emulator/entra/{path}", json=body, timeout=3600)
    except requests.ConnectionError:
        sys.exit(f"No emulator answers at {args.emulator}: start one (make run) or use --tenant.")
    if response.status_code != 200:
        sys.exit(f"The emulator refused: {response.status_code} {response.text[:300]}")
    return response.json()


def _local(args):
    driver = entra.EntraProvisioning(args.url, args.token, flag=args.flag, workers=args.workers)
    if args.cycle == "test":
        ok, message = driver.test_connection()
        return {"ok": ok, "message": message}
    ledger = entra.new_ledger()
    if args.state and os.path.exists(args.state):
        with open(args.state, encoding="utf-8") as handle:
            ledger = json.load(handle)
    snapshot = entra.Snapshot.of(Directory(load_tenant_data(args.tenant, args.seed)))
    run = driver.run(snapshot, ledger, args.cycle)
    if args.state:
        with open(args.state, "w", encoding="utf-8") as handle:
            json.dump(ledger, handle)
    return run.summary()

"""`python -m m365_emulator --port 5001 [--host H] [--tenant demo|FILE.json|generated:N] [--seed S]`;
`python -m m365_emulator entra-push --url URL --token TOKEN …`: Entra provisioning (entra_cli.py)."""

import argparse
import json
import sys

from .demo import DEMO_ADMIN_UPN, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_USER_UPN
from .server import EmulatorServer
from .state import load_tenant_data


def main(argv=None):
    """Parse arguments and serve (or write the tenant JSON with --save; or run `entra-push`)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["entra-push"]:
        from .entra_cli import main as entra_push

        return entra_push(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m m365_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--tenant", default="demo", help="demo | generated:N | path/to/tenant.json")
    parser.add_argument("--seed", type=int, default=None, help="seed for generated:N tenants")
    parser.add_argument("--save", metavar="FILE", help="write the tenant as JSON and exit")
    args = parser.parse_args(argv)
    if args.save:
        with open(args.save, "w", encoding="utf-8") as handle:
            json.dump(load_tenant_data(args.tenant, args.seed), handle, ensure_ascii=False, indent=1)
        return 0
    server = EmulatorServer(args.tenant, host=args.host, port=args.port, seed=args.seed)
    directory = server.state.directory
    print(
        f"M365 emulator on {server.base_url} — tenant {directory.name} ({directory.domain}, "
        f"{directory.id}), {len(directory.users)} users\n"
        f"  authority  {server.base_url}   graph {server.graph_url}   console "
        f"{server.base_url}/_emulator/\n"
        f"  demo app   {DEMO_CLIENT_ID} / {DEMO_CLIENT_SECRET}\n"
        f"  sign in as {DEMO_ADMIN_UPN} (admin) or {DEMO_USER_UPN} (no admin rights)",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

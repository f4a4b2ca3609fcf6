#!/usr/bin/env bash
# Development: the portal, the runner and the M365 emulator in one terminal (honcho + Procfile).
# The portal talks to the emulator instead of Microsoft; Ctrl-C stops all three.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
if [[ ! -x "$VENV/bin/honcho" ]]; then
  echo "Missing $VENV/bin/honcho: run 'make install' first." >&2
  exit 1
fi
export PATH="$VENV/bin:$PATH"
export FLASK_APP=wsgi
export PYTHONUNBUFFERED=1
# Ports: PORTAL_PORT (default 5000) and EMULATOR_PORT (default 5001), e.g. when 5000 is taken.
export PORTAL_PORT="${PORTAL_PORT:-5000}"
export EMULATOR_PORT="${EMULATOR_PORT:-5001}"
# The emulator's demo app registration (m365_emulator/demo.py: DEMO_CLIENT_ID / DEMO_CLIENT_SECRET).
export M365_AUTHORITY="${M365_AUTHORITY:-http://127.0.0.1:$EMULATOR_PORT}"
export M365_GRAPH_URL="${M365_GRAPH_URL:-http://127.0.0.1:$EMULATOR_PORT/v1.0}"
export M365_CLIENT_ID="${M365_CLIENT_ID:-4b1d7c2e-5f3a-4e8b-9c61-0d2f7a9e3b10}"
export M365_CLIENT_SECRET="${M365_CLIENT_SECRET:-demo-client-secret}"
export M365_REDIRECT_URI="${M365_REDIRECT_URI:-http://127.0.0.1:$PORTAL_PORT/m365/callback}"

echo
echo "  Portal      http://127.0.0.1:$PORTAL_PORT/"
echo "  Emulator    http://127.0.0.1:$EMULATOR_PORT/_emulator/   (Microsoft sign-in: admin@contosodemo.onmicrosoft.com)"
exec honcho start -f "$ROOT/Procfile" -d "$ROOT"

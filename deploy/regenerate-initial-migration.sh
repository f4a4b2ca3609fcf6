#!/usr/bin/env bash
# Pre-release only: rebuild the single initial migration from the models (nothing has shipped yet, so
# no database holds an older revision). After the first release, add migrations with `flask db migrate`.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
rm -f migrations/versions/*_initial_schema.py
DATABASE_URL="sqlite:///$tmp/empty.db" .venv/bin/flask --app wsgi db migrate -m "initial schema" >/dev/null
rm -rf "$tmp"
ls migrations/versions/

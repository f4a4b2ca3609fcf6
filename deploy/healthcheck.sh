#!/usr/bin/env bash
# Monitoring check for the portal: is it ready (database answers, schema current, a runner alive)?
# Exit 0 and "OK" when GET /readyz answers 200; exit 2 and "CRITICAL" with the failing checks
# otherwise (Nagios/Icinga exit codes). From cron, e.g. every 5 minutes:
#   */5 * * * * portal /opt/awareness-portal/.venv/share/awareness-portal/healthcheck.sh >/dev/null || <alert command>
# The URL defaults to gunicorn on this host (deploy/gunicorn.conf.py). The probes answer on any
# Host header, so no TRUSTED_HOSTS name is needed; through nginx use https://<portal>/readyz.
set -uo pipefail
url="${PORTAL_READYZ_URL:-http://127.0.0.1:8000/readyz}"
if ! answer=$(curl --silent --show-error --max-time 10 --write-out '\n%{http_code}' "$url" 2>&1); then
  echo "CRITICAL: $url does not answer: ${answer%$'\n'*}"
  exit 2
fi
code="${answer##*$'\n'}"
body="${answer%$'\n'*}"
body="${body%$'\n'}"  # jsonify ends with a newline
if [[ "$code" == "200" ]]; then
  echo "OK: $body"
  exit 0
fi
echo "CRITICAL: $url answered $code: $body"
exit 2

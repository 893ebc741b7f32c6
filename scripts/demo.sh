#!/usr/bin/env bash
# demo.sh: the operator's morning check, `pytest -m daily`, against the sandbox; then where the record is.
set -uo pipefail
cd "$(dirname "$0")/.."
export DIGITALME_COMPOSE_FILE=${DIGITALME_COMPOSE_FILE:-sandbox/docker-compose.production.yml}
export DIGITALME_ENV_FILE=${DIGITALME_ENV_FILE:-sandbox/.env}
.venv/bin/pytest -m daily "$@"
status=$?
report_dir=${DIGITALME_REPORT_DIR:-reports}
echo
echo "Daily health record:"
for name in latest.html latest.json index.html; do
  [ -e "$report_dir/$name" ] && echo "  $report_dir/$name"
done
newest=$(ls -t "$report_dir"/*-daily.json 2>/dev/null | head -n 1)
[ -n "$newest" ] && echo "  this run: ${newest%.json}.html and $newest"
echo "The sandbox is still running: try curl http://localhost/health, or 'make demo-down' to stop it."
exit $status

#!/usr/bin/env bash
# sandbox.sh up|down|status: the demo's sandbox DigitalMe stack (project "digitalme" on 127.0.0.1:80/443).
set -euo pipefail
cd "$(dirname "$0")/../sandbox"
export PATH=$PWD/../.venv/bin:$PATH
compose=(docker-compose -p digitalme -f docker-compose.production.yml)
case "${1:-}" in
  up)
    # Not healthy (absent, stopped, left broken by a killed session), or left from days ago (its backup history
    # has aged past the 7-day window while nothing ran): start from a known state. Otherwise `up` changes nothing
    # unless the image or compose file changed, so the demo stays idempotent and quick.
    created=$(docker volume inspect -f '{{.CreatedAt}}' digitalme_digitalme-data 2>/dev/null || true)
    age_days=$(( ( $(date +%s) - $(date -d "${created:-now}" +%s) ) / 86400 ))
    if [ "$(docker inspect -f '{{.State.Health.Status}}' digitalme-digitalme-1 2>/dev/null)" != healthy ] \
       || [ "$age_days" -ge 6 ]; then
      "${compose[@]}" down --volumes --remove-orphans --timeout 5 >/dev/null 2>&1 || true
      echo "== starting the sandbox DigitalMe stack (http://localhost, https://localhost)"
    fi
    "${compose[@]}" up --detach --wait --wait-timeout 120 2>&1 | { grep -v -e ' Running$' -e ' Healthy$' -e ' Waiting$' || true; } ;;
  down)
    "${compose[@]}" down --volumes --remove-orphans --timeout 5 ;;
  status)
    "${compose[@]}" ps ;;
  *)
    echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac

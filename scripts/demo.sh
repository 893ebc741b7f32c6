#!/usr/bin/env bash
# demo.sh: the operator's morning check, `pytest -m daily`, against the sandbox; then where the record is.
# The target is always the sandbox (compose project $SANDBOX_PROJECT, its URLs as scripts/sandbox.sh reads them
# back from its container). Every DIGITALME_* setting exported for production in this shell is dropped, not only
# the target's: the demo must not page production's webhooks, ping its heartbeat (that would hide a dead
# scheduler) or write into its report folder and alert state.
set -uo pipefail
cd "$(dirname "$0")/.."
while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep '^DIGITALME_' || true)
settings=$(scripts/sandbox.sh env) || exit 1
while IFS= read -r line; do export "${line?}"; done <<<"$settings"
export DIGITALME_REPORT_DIR=${DEMO_REPORT_DIR:-reports}  # the demo's own record, in this clone
.venv/bin/pytest -m daily "$@"
status=$?
report_dir=$DIGITALME_REPORT_DIR
echo
echo "Daily health record:"
for name in latest.html latest.json index.html; do
  [ -e "$report_dir/$name" ] && echo "  $report_dir/$name"
done
newest=$(ls -t "$report_dir"/*-daily.json 2>/dev/null | head -n 1)
[ -n "$newest" ] && echo "  this run: ${newest%.json}.html and $newest"
down="make demo-down"
[ "${SANDBOX_PROJECT:-digitalme-sandbox}" = digitalme-sandbox ] || down="SANDBOX_PROJECT=$SANDBOX_PROJECT $down"
echo "The sandbox is still running: try curl $DIGITALME_BASE_URL/health, or '$down' to stop it."
exit $status

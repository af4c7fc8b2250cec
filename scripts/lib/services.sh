# shellcheck shell=bash
# Database services the test suite uses: PostgreSQL on 127.0.0.1:5432, MariaDB on 127.0.0.1:3306
# and Redis on 127.0.0.1:6379. Source this file, then call `ensure_services`.
#
# Each service that is installed but not answering is started, then waited for (bounded by
# SERVICE_WAIT_SECS, default 30); one that is not installed is installed from Debian's packages
# (as root) and set up the way the suite expects: PostgreSQL with trust auth on loopback, MariaDB
# with a passwordless root over TCP and a `test` database. A service that will not come up is a
# warning, or an error with BOXOFFICE_REQUIRE_SERVICES=1 (which CI sets: CI must not skip them).

SERVICE_WAIT_SECS="${SERVICE_WAIT_SECS:-30}"

_svc_log() { printf '    %s\n' "$*"; }
_svc_warn() { printf '    WARNING: %s\n' "$*" >&2; }

# True when something accepts TCP connections on 127.0.0.1:$1 (bash's /dev/tcp, no tools needed).
_svc_port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

postgres_answers() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h 127.0.0.1 -p 5432 -t 2
  else
    _svc_port_open 5432
  fi
}

mariadb_answers() {
  if command -v mariadb-admin >/dev/null 2>&1; then
    # `ping` exits 0 when the server answers, even if it refuses our (absent) credentials.
    mariadb-admin --protocol=tcp -h 127.0.0.1 -P 3306 --connect-timeout=2 ping >/dev/null 2>&1
  elif command -v mysqladmin >/dev/null 2>&1; then
    mysqladmin --protocol=tcp -h 127.0.0.1 -P 3306 --connect-timeout=2 ping >/dev/null 2>&1
  else
    _svc_port_open 3306
  fi
}

redis_answers() {
  if command -v redis-cli >/dev/null 2>&1; then
    [ "$(timeout 3 redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]
  else
    _svc_port_open 6379
  fi
}

# _svc_wait NAME CHECK: polls CHECK until it succeeds or SERVICE_WAIT_SECS pass.
_svc_wait() {
  local name="$1" check="$2" deadline=$((SECONDS + SERVICE_WAIT_SECS))
  while ! "$check"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      _svc_warn "$name did not answer within ${SERVICE_WAIT_SECS}s"
      return 1
    fi
    sleep 0.5
  done
  _svc_log "$name is up"
}

# _svc_apt PACKAGE...: installs Debian packages (root only), running apt-get update once.
_SVC_APT_UPDATED=0
_svc_apt() {
  if [ "$(id -u)" -ne 0 ]; then
    _svc_warn "cannot install $* with apt-get: not root"
    return 1
  fi
  if [ "$_SVC_APT_UPDATED" -eq 0 ]; then
    apt-get update -qq || return 1
    _SVC_APT_UPDATED=1
  fi
  _svc_log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# A fresh Debian PostgreSQL asks loopback clients for a password; the suite connects as
# `postgres` without one, as on the reference machine.
_svc_postgres_trust_loopback() {
  local version="$1" hba
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  [ -f "$hba" ] || return 0
  if ! grep -q 'boxoffice: trust loopback' "$hba"; then
    {
      printf '# boxoffice: trust loopback (test machines only)\n'
      printf 'host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n'
      cat "$hba"
    } >"$hba.new" && mv "$hba.new" "$hba"
    chown postgres:postgres "$hba" 2>/dev/null || true
  fi
}

ensure_postgres() {
  if postgres_answers; then
    _svc_log "PostgreSQL answers on 127.0.0.1:5432"
    return 0
  fi
  local version
  version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1 || true)"
  if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$version" ]; then
    _svc_log "PostgreSQL is not installed"
    _svc_apt postgresql || return 1
    version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1 || true)"
    [ -n "$version" ] || return 1
    _svc_postgres_trust_loopback "$version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main stop >/dev/null 2>&1 || true
  fi
  _svc_log "starting PostgreSQL $version/main"
  # /run is a tmpfs: after a reboot the socket directory is gone.
  if id postgres >/dev/null 2>&1; then
    install -d -o postgres -g postgres -m 2775 /run/postgresql
  fi
  pg_ctlcluster --skip-systemctl-redirect "$version" main start ||
    _svc_warn "pg_ctlcluster $version main start failed"
  _svc_wait PostgreSQL postgres_answers
}

ensure_mariadb() {
  if mariadb_answers; then
    _svc_log "MariaDB answers on 127.0.0.1:3306"
    return 0
  fi
  local fresh=0
  if [ ! -x /usr/sbin/mariadbd ]; then
    _svc_log "MariaDB is not installed"
    _svc_apt mariadb-server || return 1
    fresh=1
  fi
  _svc_log "starting MariaDB"
  if id mysql >/dev/null 2>&1; then
    install -d -o mysql -g mysql -m 0755 /run/mysqld
  fi
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd ||
    _svc_warn "start-stop-daemon could not start mariadbd"
  _svc_wait MariaDB mariadb_answers || return 1
  if [ "$fresh" -eq 1 ]; then
    # Debian's root signs in only over the socket; the suite signs in over TCP, no password.
    mariadb -u root -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket; \
      CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''; \
      GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION; \
      CREATE DATABASE IF NOT EXISTS test; FLUSH PRIVILEGES;" ||
      _svc_warn "could not open MariaDB's root account to TCP clients"
  fi
}

ensure_redis() {
  if redis_answers; then
    _svc_log "Redis answers on 127.0.0.1:6379"
    return 0
  fi
  if ! command -v redis-server >/dev/null 2>&1; then
    _svc_log "Redis is not installed"
    _svc_apt redis-server || return 1
    # The package may have started its own server already.
    redis_answers && return 0
  fi
  _svc_log "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log ||
    _svc_warn "redis-server failed to start"
  _svc_wait Redis redis_answers
}

# Ensures all three; warns about (or, when required, fails on) any that is not answering.
ensure_services() {
  local missing=()
  ensure_postgres || missing+=(PostgreSQL)
  ensure_mariadb || missing+=(MariaDB)
  ensure_redis || missing+=(Redis)
  if [ "${#missing[@]}" -eq 0 ]; then
    return 0
  fi
  if [ "${BOXOFFICE_REQUIRE_SERVICES:-0}" = "1" ]; then
    printf '    ERROR: not answering: %s (BOXOFFICE_REQUIRE_SERVICES=1)\n' "${missing[*]}" >&2
    return 1
  fi
  _svc_warn "not answering: ${missing[*]} (not required; the tests that need them will fail)"
  return 0
}

# Drops the per-test databases (`bo_test_…`, see tests/support/database.rs) that a killed or
# crashed run left behind in PostgreSQL and MariaDB. A database still in use is left alone:
# PostgreSQL refuses to drop it, and MariaDB gives up after one second waiting for its locks.
drop_test_databases() {
  local name dropped=0
  if command -v psql >/dev/null 2>&1 && postgres_answers; then
    while read -r name; do
      [ -n "$name" ] || continue
      if psql -h 127.0.0.1 -U postgres -d postgres -qAtc "DROP DATABASE IF EXISTS \"$name\"" >/dev/null 2>&1; then
        dropped=$((dropped + 1))
      fi
    done < <(psql -h 127.0.0.1 -U postgres -d postgres -Atc \
      "SELECT datname FROM pg_database WHERE datname LIKE 'bo\_test\_%'" 2>/dev/null || true)
  fi
  local mysql_cli=""
  command -v mariadb >/dev/null 2>&1 && mysql_cli=mariadb
  [ -z "$mysql_cli" ] && command -v mysql >/dev/null 2>&1 && mysql_cli=mysql
  if [ -n "$mysql_cli" ] && mariadb_answers; then
    while read -r name; do
      [ -n "$name" ] || continue
      if "$mysql_cli" --protocol=tcp -h 127.0.0.1 -P 3306 -u root -N -e \
        "SET SESSION lock_wait_timeout = 1; DROP DATABASE IF EXISTS \`$name\`" >/dev/null 2>&1; then
        dropped=$((dropped + 1))
      fi
    done < <("$mysql_cli" --protocol=tcp -h 127.0.0.1 -P 3306 -u root -N -e \
      "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'bo\\_test\\_%'" 2>/dev/null || true)
  fi
  _svc_log "dropped $dropped leftover test database(s)"
}

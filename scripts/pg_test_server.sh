#!/usr/bin/env bash
# Throwaway PostgreSQL 15 + PostGIS cluster for the test suite, listening on a unix socket only.
#
#   scripts/pg_test_server.sh          install (when absent), init, start; prints the database URL
#   scripts/pg_test_server.sh start    same as above
#   scripts/pg_test_server.sh url      print the URL of the running cluster (exit 1 when down)
#   scripts/pg_test_server.sh stop     stop the cluster (the folder is kept; GEO_APP_PG_WIPE=1 removes it)
#
# Idempotent: a second `start` finds the running cluster and prints the same URL.
# Environment: GEO_APP_PG_DIR (default /tmp/geoapp-pg), GEO_APP_PG_DB (default geoapp).
# Debian's postgresql-15 and postgresql-15-postgis-3 are installed with apt-get (sudo when not root).
# Postgres refuses to run as root: as root, the cluster belongs to the `postgres` user (runuser).
# Only the URL goes to stdout; progress goes to stderr, so `export X=$(scripts/pg_test_server.sh)` works.
set -euo pipefail

PGVER=15
PGBIN=/usr/lib/postgresql/$PGVER/bin
DIR=${GEO_APP_PG_DIR:-/tmp/geoapp-pg}
DB=${GEO_APP_PG_DB:-geoapp}
DATA=$DIR/data
SOCK=$DIR/socket
LOG=$DIR/server.log
PORT=5432  # only names the socket file (.s.PGSQL.5432); listen_addresses='' means no TCP at all

log() { echo "pg_test_server: $*" >&2; }

if [ "$(id -u)" = 0 ]; then
  RUNAS=postgres
  SUDO=""
else
  RUNAS=$(id -un)
  SUDO=sudo
fi

as_owner() {
  if [ "$(id -un)" = "$RUNAS" ]; then "$@"; else runuser -u "$RUNAS" -- "$@"; fi
}

url() {
  printf 'postgresql:///%s?host=%s&port=%s&user=%s\n' "$DB" "$SOCK" "$PORT" "$RUNAS"
}

install_packages() {
  if [ -x "$PGBIN/initdb" ] && [ -f /usr/share/postgresql/$PGVER/extension/postgis.control ]; then
    return
  fi
  log "installing postgresql-$PGVER and postgresql-$PGVER-postgis-3 (apt-get)"
  # Do not let the package create and start the system-wide 'main' cluster (TCP 5432).
  $SUDO mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.d/geoapp-no-main.conf >/dev/null
  $SUDO apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
    "postgresql-$PGVER" "postgresql-$PGVER-postgis-3" >&2
}

running() {
  [ -f "$DATA/postmaster.pid" ] && as_owner "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

start() {
  install_packages
  mkdir -p "$DIR"
  if [ "$(id -u)" = 0 ]; then chown "$RUNAS": "$DIR"; fi
  chmod 0755 "$DIR"
  as_owner mkdir -p "$SOCK"
  as_owner chmod 0777 "$SOCK"  # any local user (the tests run as root) may connect through the socket
  if [ ! -f "$DATA/PG_VERSION" ]; then
    log "initdb $DATA"
    as_owner "$PGBIN/initdb" -D "$DATA" -U "$RUNAS" --auth=trust --encoding=UTF8 --locale=C.UTF-8 >&2
    {
      echo "listen_addresses = ''"
      echo "unix_socket_directories = '$SOCK'"
      echo "port = $PORT"
      echo "max_connections = 200"
      echo "fsync = on"
      echo "synchronous_commit = on"
      echo "shared_buffers = 64MB"
    } | as_owner tee -a "$DATA/postgresql.conf" >/dev/null
  fi
  if ! running; then
    log "starting (socket $SOCK, no TCP)"
    as_owner "$PGBIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >&2
  fi
  if ! as_owner "$PGBIN/psql" -h "$SOCK" -p "$PORT" -U "$RUNAS" -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
    log "createdb $DB"
    as_owner "$PGBIN/createdb" -h "$SOCK" -p "$PORT" -U "$RUNAS" "$DB"
  fi
  as_owner "$PGBIN/psql" -h "$SOCK" -p "$PORT" -U "$RUNAS" -d "$DB" -q -v ON_ERROR_STOP=1 \
    -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS postgis" >&2
  url
}

stop() {
  if running; then
    log "stopping"
    as_owner "$PGBIN/pg_ctl" -D "$DATA" -m fast -w stop >&2
  else
    log "not running"
  fi
  if [ "${GEO_APP_PG_WIPE:-0}" = 1 ]; then
    rm -rf "$DIR"
  fi
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  url) running && url ;;
  *) echo "usage: $0 [start|stop|url]" >&2; exit 2 ;;
esac

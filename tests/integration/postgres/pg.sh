#!/usr/bin/env bash
# Throw-away PostgreSQL 15 cluster for the integration tests.
#
#   pg.sh start         wipe /tmp/streamhouse-test-pg, initdb, start, create role + db
#   pg.sh stop          stop the cluster this script started (pg_ctl on our data dir only)
#   pg.sh server-stop   stop the server, keep the data (tests: "database down")
#   pg.sh server-start  start the existing cluster again (tests: "database back")
#   pg.sh url           print the password URL the store uses
#
# Listens on 127.0.0.1:15432 (scram-sha-256 password auth) and a unix socket in
# the state dir (trust). As root, runs initdb/postgres as the `postgres` system
# user (initdb refuses root). Exits non-zero, loudly, if anything fails.
set -euo pipefail

PGBIN=${SH_PG_BIN:-/usr/lib/postgresql/15/bin}
STATE=${SH_PG_STATE:-/tmp/streamhouse-test-pg}
PORT=${SH_PG_PORT:-15432}
DATA="$STATE/data"
LOG="$STATE/postgres.log"
ROLE=streamhouse
DB=streamhouse
PASSWORD='sh-test-Secr3t-pw'

die() { echo "pg.sh: $*" >&2; [[ -f "$LOG" ]] && { echo "--- $LOG (tail) ---" >&2; tail -n 30 "$LOG" >&2; }; exit 1; }

if [[ $(id -u) -eq 0 ]]; then
  id postgres >/dev/null 2>&1 || die "running as root and there is no 'postgres' user to run the server as"
  RUN=(runuser -u postgres --)
  OWNER=postgres
else
  RUN=()
  OWNER=$(id -un)
fi

as_owner() { "${RUN[@]}" "$@"; }

server_running() { [[ -f "$DATA/postmaster.pid" ]] && as_owner "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

server_start() {
  [[ -d "$DATA" ]] || die "no cluster in $DATA (run: pg.sh start)"
  as_owner "$PGBIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 30 start >/dev/null || die "pg_ctl start failed"
  for _ in $(seq 1 100); do
    "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && return 0
    sleep 0.1
  done
  die "server did not become ready on 127.0.0.1:$PORT"
}

server_stop() {
  if server_running; then
    as_owner "$PGBIN/pg_ctl" -D "$DATA" -w -t 30 -m fast stop >/dev/null || die "pg_ctl stop failed"
  fi
}

psql_admin() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$STATE" -p "$PORT" -U postgres "$@"; }

start() {
  [[ -x "$PGBIN/initdb" ]] || die "PostgreSQL binaries not found in $PGBIN"
  # A cluster left behind by an earlier run of this script (same data dir only).
  server_stop || true
  rm -rf "$STATE"
  mkdir -p "$STATE"
  chown "$OWNER" "$STATE"
  chmod 700 "$STATE"
  as_owner "$PGBIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$STATE/initdb.log" 2>&1 \
    || { cat "$STATE/initdb.log" >&2; die "initdb failed"; }
  cat >>"$DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$STATE'
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = top
pg_stat_statements.track_utility = on
password_encryption = 'scram-sha-256'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
CONF
  cat >"$DATA/pg_hba.conf" <<HBA
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  trust
host    all       all   127.0.0.1/32   scram-sha-256
HBA
  server_start
  psql_admin -d postgres <<SQL || die "creating role/database failed"
CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD';
CREATE DATABASE $DB OWNER $ROLE;
SQL
  psql_admin -d "$DB" -c "CREATE EXTENSION pg_stat_statements;" || die "CREATE EXTENSION pg_stat_statements failed"
  # Prove password auth over TCP works before declaring the fixture ready.
  PGPASSWORD="$PASSWORD" "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U "$ROLE" -d "$DB" -c 'SELECT 1' >/dev/null \
    || die "password login over TCP failed"
  echo "pg.sh: PostgreSQL 15 ready on 127.0.0.1:$PORT (state $STATE)"
}

case "${1:-}" in
  start) start ;;
  stop) server_stop ;;
  server-stop) server_stop ;;
  server-start) server_start ;;
  url) echo "postgres://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DB" ;;
  *) echo "usage: $0 start|stop|server-stop|server-start|url" >&2; exit 2 ;;
esac

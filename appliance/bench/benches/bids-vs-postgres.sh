#!/usr/bin/env bash
# Durable bids: the appliance's engine on redb against PostgreSQL, in the same run, on the same
# disk. Starts a throwaway PostgreSQL cluster (fsync and synchronous_commit on), runs
# appliance/bench/benches/bids_vs_postgres.rs at 1, 16 and 256 submitters, and stops the cluster.
#
#   appliance/bench/benches/bids-vs-postgres.sh [SECONDS_PER_LEVEL]
set -euo pipefail
cd "$(dirname "$0")/../../.."
seconds=${1:-5}
work=${BENCH_DIR:-$PWD/target/bench-bids}

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$pgbin" ]; then
  echo "installing PostgreSQL (Debian package)"
  sudo_=""; [ "$(id -u)" = 0 ] || sudo_=sudo
  $sudo_ apt-get update -qq && $sudo_ apt-get install -y -qq postgresql >/dev/null
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

rm -rf "$work"
mkdir -p "$work/pg"
[ "$(id -u)" = 0 ] && chown -R postgres "$work/pg"
as_pg "$pgbin/initdb" -D "$work/pg/data" --auth=trust -U postgres >/dev/null
cat >>"$work/pg/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$work/pg'
max_connections = 300
shared_buffers = 256MB
fsync = on
synchronous_commit = on
CONF
as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w start >/dev/null
trap 'as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -m fast -w stop >/dev/null' EXIT

echo "PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') on $(df --output=source,fstype "$work" | tail -n 1)"
cargo bench -q -p bench --features pg-bench --bench bids_vs_postgres -- \
  --pg "host=$work/pg user=postgres dbname=postgres" --dir "$work" --seconds "$seconds"

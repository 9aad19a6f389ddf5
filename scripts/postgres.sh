#!/usr/bin/env bash
# Start the machine's PostgreSQL cluster (Debian's) and make the test role and database.
# Prints the URL to use as HALL_TEST_PG_URL. Needs root (it switches to the postgres user).
set -euo pipefail
cluster=$(pg_lsclusters --no-header 2>/dev/null | head -1)
if [ -z "$cluster" ]; then
  ver=$(ls /usr/lib/postgresql | sort -V | tail -1)
  pg_createcluster "$ver" main >/dev/null
  cluster=$(pg_lsclusters --no-header | head -1)
fi
read -r ver name port status _ <<<"$cluster"
if [ "$status" != "online" ]; then
  pg_ctlcluster "$ver" "$name" start
fi
for _ in $(seq 1 50); do
  runuser -u postgres -- psql -p "$port" -qtAc "select 1" >/dev/null 2>&1 && break
  sleep 0.2
done
# captured first, then tested: `psql | grep -q` can fail by SIGPIPE under pipefail
role=$(runuser -u postgres -- psql -p "$port" -qtAc "select 1 from pg_roles where rolname='hall'")
[ "$role" = 1 ] || runuser -u postgres -- psql -p "$port" -qc "create role hall login superuser password 'hall'"
db=$(runuser -u postgres -- psql -p "$port" -qtAc "select 1 from pg_database where datname='hall_test'")
[ "$db" = 1 ] || runuser -u postgres -- psql -p "$port" -qc "create database hall_test owner hall"
echo "postgresql://hall:hall@127.0.0.1:${port}/hall_test"

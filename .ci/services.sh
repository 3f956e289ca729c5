#!/usr/bin/env bash
# Start the servers the tests use if they are not answering, and create what the tests expect
# in them: PostgreSQL (database `test`, user postgres) and Redis. With CI=true a server that
# does not answer fails here, as the tests needing it would (they skip only outside CI).
set -u
missing=()

wait_for() {  # wait_for <seconds> <command...>
  local seconds=$1
  shift
  for _ in $(seq 1 "$seconds"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 1
  done
  "$@" >/dev/null 2>&1
}

# PostgreSQL: the registry store and fleet tests (DSN postgresql://postgres@127.0.0.1:5432/test).
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  wait_for 30 pg_isready -q -h 127.0.0.1 -p 5432
fi
if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  exists=$(psql -h 127.0.0.1 -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'test'" 2>/dev/null || true)
  if [ "$exists" != "1" ]; then
    createdb -h 127.0.0.1 -U postgres test || missing+=("PostgreSQL database test")
  fi
else
  missing+=("PostgreSQL on 127.0.0.1:5432")
fi

# Redis: the fleet's shared scope memory.
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  if command -v redis-server >/dev/null 2>&1; then
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
      --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  fi
  wait_for 30 redis-cli -h 127.0.0.1 -p 6379 ping || missing+=("Redis on 127.0.0.1:6379")
fi

if [ ${#missing[@]} -gt 0 ]; then
  for what in "${missing[@]}"; do
    echo "services: $what is not answering" >&2
  done
  if [ "${CI:-}" = "true" ] || [ "${CI:-}" = "1" ]; then
    echo "services: CI=true, so the tests that need them would fail: stopping here" >&2
    exit 1
  fi
  echo "services: the tests that need them will be skipped (they fail when CI=true)" >&2
fi
exit 0

#!/usr/bin/env bash
# Start PostgreSQL and Redis on 127.0.0.1 when they are installed but down.
# Where one is absent the tests that need it skip loudly; under CI=true that is a failure.
set -u

pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
redis_up() { (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; }
missing=0

if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && ls /etc/postgresql >/dev/null 2>&1; then
    echo "ensure-services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 50); do pg_up && break; sleep 0.2; done
  fi
fi
if ! pg_up; then
  echo "!!! ensure-services: PostgreSQL is NOT available on 127.0.0.1:5432; its tests will be skipped" >&2
  missing=1
fi

if ! redis_up; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "ensure-services: starting Redis"
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
    for _ in $(seq 1 50); do redis_up && break; sleep 0.2; done
  fi
fi
if ! redis_up; then
  echo "!!! ensure-services: Redis is NOT available on 127.0.0.1:6379; its tests will be skipped" >&2
  missing=1
fi

if [ "$missing" = 1 ] && [ "${CI:-}" = "true" ]; then
  echo "ensure-services: CI=true and a required service is missing: failing" >&2
  exit 1
fi
exit 0

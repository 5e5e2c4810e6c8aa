#!/usr/bin/env bash
# Helpers to start and stop private PostgreSQL and Redis instances on free loopback ports.
# Source this file; it defines start_postgres DIR, start_redis DIR, stop_servers.

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

start_postgres() {
  local dir="$1" bin=/usr/lib/postgresql/15/bin
  PG_DIR="$dir"
  PG_PORT="$(free_port)"
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres:postgres "$dir"
    as_pg=(runuser -u postgres --)
  else
    as_pg=()
  fi
  "${as_pg[@]}" "$bin/initdb" -D "$dir" -U postgres -A trust --no-sync -E UTF8 >/dev/null
  "${as_pg[@]}" "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
    -o "-p $PG_PORT -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" start >/dev/null
  export PG_PORT PG_DIR
}

start_redis() {
  local dir="$1"
  REDIS_DIR="$dir"
  REDIS_PORT="$(free_port)"
  mkdir -p "$dir"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
  for _ in $(seq 1 100); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  export REDIS_PORT REDIS_DIR
}

stop_servers() {
  if [ -n "${PG_DIR:-}" ] && [ -f "$PG_DIR/postmaster.pid" ]; then
    if [ "$(id -u)" -eq 0 ]; then
      runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$PG_DIR" -m immediate stop >/dev/null 2>&1 || true
    else
      /usr/lib/postgresql/15/bin/pg_ctl -D "$PG_DIR" -m immediate stop >/dev/null 2>&1 || true
    fi
  fi
  if [ -n "${REDIS_DIR:-}" ] && [ -f "$REDIS_DIR/redis.pid" ]; then
    kill "$(cat "$REDIS_DIR/redis.pid")" 2>/dev/null || true
  fi
}

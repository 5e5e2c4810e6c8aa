#!/usr/bin/env bash
# Helpers to start and stop private PostgreSQL and Redis instances on free loopback ports.
# Source this file; it defines install_prerequisites, start_postgres DIR, start_redis DIR,
# export_test_servers, stop_servers. scripts/test.sh and scripts/bench.sh both use them.

# Installs from Debian packages whatever the tests and benchmarks need and a fresh machine lacks.
install_prerequisites() {
  local need=()
  [ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql)
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
  [ -x /usr/bin/chromium ] || need+=(chromium)   # browser tests and the browser-latency benchmark
  [ -x /usr/bin/sigrok-cli ] || need+=(sigrok-cli)
  command -v node >/dev/null 2>&1 || need+=(nodejs)
  command -v npm >/dev/null 2>&1 || need+=(npm)     # the export tests install DuckDB (@duckdb/node-api) to read Parquet back
  command -v gcc >/dev/null 2>&1 || need+=(gcc)   # the native shared-memory producer test compiles docs/examples/shm_producer.c
  command -v promtool >/dev/null 2>&1 || need+=(prometheus)   # the /metrics test validates the body with promtool
  if [ ${#need[@]} -gt 0 ]; then
    echo "Installing: ${need[*]}" >&2
    local sudo=
    if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
  fi
}

# Exports the MEASUREAPP_TEST_* variables for the servers started by start_postgres / start_redis.
export_test_servers() {
  export MEASUREAPP_TEST_POSTGRES="Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Database=postgres;Pooling=true;Include Error Detail=true"
  export MEASUREAPP_TEST_REDIS="127.0.0.1:$REDIS_PORT"
  export MEASUREAPP_TEST_PGDATA="$PG_DIR"
  export MEASUREAPP_TEST_PGBIN="/usr/lib/postgresql/15/bin"
  export MEASUREAPP_TEST_CHROMIUM="/usr/bin/chromium"
  export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
}

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

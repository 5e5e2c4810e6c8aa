#!/usr/bin/env bash
# Runs the whole MeasureApp test suite against real servers.
# Installs PostgreSQL 15, Redis 7 and Chromium from Debian packages when missing, starts private
# instances on free loopback ports, runs `dotnet test`, and stops the servers even when tests fail.
# Last line of output: "N passed, N failed, N skipped".
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# --- 1. install what the tests need (fresh machine) ---------------------------------------
need=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/sigrok-cli ] || need+=(sigrok-cli)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)     # the export tests install DuckDB (@duckdb/node-api) to read Parquet back
command -v gcc >/dev/null 2>&1 || need+=(gcc)   # the native shared-memory producer test compiles docs/examples/shm_producer.c
command -v promtool >/dev/null 2>&1 || need+=(prometheus)   # the /metrics test validates the body with promtool
if [ ${#need[@]} -gt 0 ]; then
  echo "Installing: ${need[*]}"
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

# --- 2. private servers on free loopback ports ----------------------------------------------
work="$(mktemp -d /tmp/measureapp-test.XXXXXX)"
chmod 755 "$work"
source "$root/scripts/servers.sh"

cleanup() {
  stop_servers || true
  rm -rf "$work"
}
trap cleanup EXIT

start_postgres "$work/pg"
start_redis "$work/redis"
echo "PostgreSQL on 127.0.0.1:$PG_PORT, Redis on 127.0.0.1:$REDIS_PORT"

export MEASUREAPP_TEST_POSTGRES="Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Database=postgres;Pooling=true;Include Error Detail=true"
export MEASUREAPP_TEST_REDIS="127.0.0.1:$REDIS_PORT"
export MEASUREAPP_TEST_PGDATA="$work/pg"
export MEASUREAPP_TEST_PGBIN="/usr/lib/postgresql/15/bin"
export MEASUREAPP_TEST_CHROMIUM="/usr/bin/chromium"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# --- 3. run the suite ------------------------------------------------------------------------
results="$work/results"
set +e
dotnet test "$root/MeasureApp.Tests/MeasureApp.Tests.csproj" -c Release \
  --logger "trx;LogFileName=results.trx" --results-directory "$results" "$@"
status=$?
set -e

trx="$results/results.trx"
if [ ! -f "$trx" ]; then
  echo "No test results were written (build failure?)."
  echo "0 passed, 1 failed"
  exit 1
fi
counters="$(grep -o '<Counters [^>]*>' "$trx" | head -1)"
get() { echo "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*'; }
total=$(get total); passed=$(get passed); failed=$(get failed); notexec=$(get notExecuted)
errors=$(get error)
failed=$((failed + errors))
skipped=$((total - passed - failed))
[ "$skipped" -lt "$notexec" ] && skipped=$notexec
echo "$passed passed, $failed failed, $skipped skipped"
if [ $status -ne 0 ] && [ "$failed" -eq 0 ]; then exit $status; fi
[ "$failed" -eq 0 ]

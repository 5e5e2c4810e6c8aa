#!/usr/bin/env bash
# Runs one benchmark command against private servers, like scripts/test.sh runs the tests.
# Starts PostgreSQL 15 (and Redis) on free loopback ports, exports MEASUREAPP_TEST_POSTGRES /
# MEASUREAPP_TEST_REDIS / MEASUREAPP_TEST_CHROMIUM, runs bench/MeasureApp.Bench in Release with the
# arguments given, and stops the servers even when the benchmark fails.
#
#   scripts/bench.sh load list
#   scripts/bench.sh load storage-write --providers sqlite,postgres --write
#   scripts/bench.sh bdn --filter '*M4Kernel*' --job short
#
# A fresh clone needs nothing else: the packages are installed like scripts/test.sh installs them.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [ $# -eq 0 ]; then
  echo "usage: scripts/bench.sh <bench command> [options]   (e.g. scripts/bench.sh load list)" >&2
  exit 2
fi

need=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
[ -x /usr/bin/chromium ] || need+=(chromium)   # the browser-latency scenario drives Chromium
if [ ${#need[@]} -gt 0 ]; then
  echo "Installing: ${need[*]}"
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

work="$(mktemp -d /tmp/measureapp-bench.XXXXXX)"
chmod 755 "$work"
source "$root/scripts/servers.sh"
cleanup() {
  stop_servers || true
  rm -rf "$work"
}
trap cleanup EXIT

start_postgres "$work/pg"
start_redis "$work/redis"
echo "PostgreSQL on 127.0.0.1:$PG_PORT, Redis on 127.0.0.1:$REDIS_PORT" >&2

export MEASUREAPP_TEST_POSTGRES="Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Database=postgres;Pooling=true"
export MEASUREAPP_TEST_REDIS="127.0.0.1:$REDIS_PORT"
export MEASUREAPP_TEST_CHROMIUM="/usr/bin/chromium"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# Own artifacts folder (kept between runs, so the next run builds incrementally): a Release build
# here never collides with Debug builds of the same tree.
dotnet run -c Release --project "$root/bench/MeasureApp.Bench" --artifacts-path "${BENCH_ARTIFACTS:-/tmp/measureapp-bench-artifacts}" -- "$@"

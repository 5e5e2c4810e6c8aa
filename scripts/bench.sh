#!/usr/bin/env bash
# Runs one benchmark command against private servers, like scripts/test.sh runs the tests.
# Starts PostgreSQL 15 (and Redis) on free loopback ports, exports MEASUREAPP_TEST_POSTGRES /
# MEASUREAPP_TEST_REDIS / MEASUREAPP_TEST_CHROMIUM, runs bench/MeasureApp.Bench in Release with the
# arguments given, and stops the servers even when the benchmark fails.
#
#   scripts/bench.sh load list
#   scripts/bench.sh load store --providers sqlite,postgres --write
#   scripts/bench.sh bdn --filter '*M4Kernel*' --job short
#
# A fresh clone needs nothing else: the packages are installed by the same install_prerequisites
# (scripts/servers.sh) that scripts/test.sh uses.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [ $# -eq 0 ]; then
  echo "usage: scripts/bench.sh <bench command> [options]   (e.g. scripts/bench.sh load list)" >&2
  exit 2
fi

source "$root/scripts/servers.sh"
install_prerequisites

work="$(mktemp -d /tmp/measureapp-bench.XXXXXX)"
chmod 755 "$work"
cleanup() {
  stop_servers || true
  rm -rf "$work"
}
trap cleanup EXIT

start_postgres "$work/pg"
start_redis "$work/redis"
echo "PostgreSQL on 127.0.0.1:$PG_PORT, Redis on 127.0.0.1:$REDIS_PORT" >&2
export_test_servers

# Own artifacts folder (kept between runs, so the next run builds incrementally): a Release build
# here never collides with Debug builds of the same tree.
dotnet run -c Release --project "$root/bench/MeasureApp.Bench" --artifacts-path "${BENCH_ARTIFACTS:-/tmp/measureapp-bench-artifacts}" -- "$@"

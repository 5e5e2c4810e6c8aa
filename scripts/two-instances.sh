#!/usr/bin/env bash
# Two MeasureApp instances on loopback ports sharing one PostgreSQL database and one Redis (SPEC §8
# scale-out). Used by MeasureApp.Tests/ScaleOut and by hand:
#
#   MEASUREAPP_DATABASE='Host=127.0.0.1;Port=5432;Username=postgres;Database=measureapp_two' \
#   MEASUREAPP_REDIS='127.0.0.1:6379' scripts/two-instances.sh start /tmp/two
#   ... open the URLs in /tmp/two/a.url and /tmp/two/b.url ...
#   scripts/two-instances.sh stop /tmp/two
#
# Environment:
#   MEASUREAPP_DATABASE   PostgreSQL connection string (required; the database must exist or be creatable)
#   MEASUREAPP_REDIS      Redis connection string (required)
#   MEASUREAPP_DLL        the app to run (default: MeasureApp/bin/Debug/net10.0/MeasureApp.dll, i.e. `dotnet build`)
#   MEASUREAPP_ADMIN_EMAIL / MEASUREAPP_ADMIN_PASSWORD   seeded admin (default admin@local / admin-password-1)
#   MEASUREAPP_ENVIRONMENT  ASPNETCORE_ENVIRONMENT of both (default Production)
#   MEASUREAPP_READY_SECONDS  how long to wait for /health/ready (default 120)
#   MEASUREAPP_OWNER_PID  optional: stop the instances when this process dies
#
# Each instance binds port 0 (Kestrel picks a free port, no race with other processes) and the
# script reads the address from its log. The Network device of appsettings.json (net-1, index 1)
# gets free ports too, so two instances on one host do not both claim 5700. State dir: a.pid, a.url, a/app.log, a/data (same for b).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() {
  echo "usage: $0 start STATE_DIR | stop STATE_DIR" >&2
  exit 2
}

stop_one() {
  local pidfile="$1" pid
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    # Graceful shutdown stops and flushes running measurements; give it 30 s, then kill.
    for _ in $(seq 1 300); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

stop_all() {
  local state="$1"
  stop_one "$state/a.pid"
  stop_one "$state/b.pid"
}

start_one() {
  local state="$1" name="$2"
  mkdir -p "$state/$name/data"
  rm -f "$state/$name.url"
  # setsid: the instance does not share the caller's process group or terminal, so it survives the
  # script's exit and is stopped only through its pid file.
  # The content root is the app's folder (its appsettings.json and static web assets manifest).
  cd "$(dirname "$dll")"
  env ASPNETCORE_ENVIRONMENT="${MEASUREAPP_ENVIRONMENT:-Production}" \
      ConnectionStrings__Database="$MEASUREAPP_DATABASE" \
      ConnectionStrings__Redis="$MEASUREAPP_REDIS" \
      Storage__DataDirectory="$state/$name/data" \
      Admin__Email="${MEASUREAPP_ADMIN_EMAIL:-admin@local}" \
      Admin__Password="${MEASUREAPP_ADMIN_PASSWORD:-admin-password-1}" \
      Logging__LogLevel__Microsoft.Hosting.Lifetime=Information \
      Acquisition__Devices__1__TcpPort=0 Acquisition__Devices__1__UdpPort=0 \
      setsid dotnet "$dll" --urls "http://127.0.0.1:0" </dev/null >"$state/$name/app.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$state/$name.pid"
  cd "$repo"
  # With MEASUREAPP_OWNER_PID set (the test host does), the instance is stopped when that process
  # dies without calling `stop` (killed test run): no instance outlives its owner for more than ~1 s.
  if [ -n "${MEASUREAPP_OWNER_PID:-}" ]; then
    ( while kill -0 "$MEASUREAPP_OWNER_PID" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
      kill -TERM "$pid" 2>/dev/null ) </dev/null >/dev/null 2>&1 &
  fi
}

# Waits until the instance logged its address and answers /health/ready with 200.
wait_ready() {
  local state="$1" name="$2" deadline url="" pid
  deadline=$(( $(date +%s) + ${MEASUREAPP_READY_SECONDS:-120} ))
  pid="$(cat "$state/$name.pid")"
  while [ "$(date +%s)" -lt "$deadline" ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "instance $name exited during start; log:" >&2
      tail -n 40 "$state/$name/app.log" >&2
      return 1
    fi
    if [ -z "$url" ]; then
      url="$(grep -o 'Now listening on: http://127\.0\.0\.1:[0-9]*' "$state/$name/app.log" | head -n 1 | sed 's/Now listening on: //')" || true
    fi
    if [ -n "$url" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/health/ready")" = "200" ]; then
      echo "$url" >"$state/$name.url"
      echo "$name=$url"
      return 0
    fi
    sleep 0.2
  done
  echo "instance $name not ready within ${MEASUREAPP_READY_SECONDS:-120} s (url: ${url:-none}); log:" >&2
  tail -n 40 "$state/$name/app.log" >&2
  return 1
}

[ $# -eq 2 ] || usage
cmd="$1"
state="$(mkdir -p "$2" && cd "$2" && pwd)"

case "$cmd" in
  start)
    : "${MEASUREAPP_DATABASE:?set MEASUREAPP_DATABASE to a PostgreSQL connection string}"
    : "${MEASUREAPP_REDIS:?set MEASUREAPP_REDIS to a Redis connection string}"
    dll="${MEASUREAPP_DLL:-$repo/MeasureApp/bin/Debug/net10.0/MeasureApp.dll}"
    [ -f "$dll" ] || { echo "$dll not found: run dotnet build first or set MEASUREAPP_DLL" >&2; exit 1; }
    stop_all "$state"
    # A starts alone first: it creates the schema, the admin and the Data Protection key; B then
    # finds them instead of racing A for them.
    start_one "$state" a
    if ! wait_ready "$state" a; then stop_all "$state"; exit 1; fi
    start_one "$state" b
    if ! wait_ready "$state" b; then stop_all "$state"; exit 1; fi
    ;;
  stop)
    stop_all "$state"
    ;;
  *)
    usage
    ;;
esac

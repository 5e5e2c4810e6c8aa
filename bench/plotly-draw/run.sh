#!/usr/bin/env bash
# Plotly-only draw micro-benchmark (docs/benchmarks.md, "Issue 14, part 3"): one chart per variant in
# one headless Chromium page; updates go round-robin over the variants so machine load hits all alike.
# Prints p50 per call and to the painted frame, and each variant's ratio to the first one.
#   bench/plotly-draw/run.sh "traces=1&secs=30&v=extend,extFixX,reactArr,e20"
# Variants: see `variants` in index.html. Plotly is the copy Plotly.Blazor ships (NuGet cache).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d /tmp/plotly-draw.XXXXXX)"
trap 'rm -rf "$work"' EXIT
plotly="$(find "${NUGET_PACKAGES:-$HOME/.nuget/packages}/plotly.blazor" -name 'plotly-3.*.min.js' ! -name '*basic*' | sort | tail -1)"
cp "$here/index.html" "$work/index.html"
cp "$plotly" "$work/plotly-3.7.0.min.js"
timeout 300 "${MEASUREAPP_TEST_CHROMIUM:-/usr/bin/chromium}" --headless --no-sandbox --disable-gpu --enable-logging=stderr --v=0 \
  --user-data-dir="$work/profile" --window-size=1400,1400 "file://$work/index.html?${1:-}" 2>&1 |
  grep --line-buffered -o 'RESULT[^"]*' | while read -r line; do echo "${line#RESULT }"; [[ "$line" == *done* ]] && break; done

#!/usr/bin/env bash
# A simulated week of hourly probes against three simulator presets, in about two and
# a half minutes, then the time-of-day report. Everything runs on 127.0.0.1.
#
#   scripts/demo_timeofday.sh [OUT_DIR]        (default reports/timeofday-demo)
#
# WARP (default 4032: a week in 150 s) sets the time warp. At 6048 (100 s) a two-core
# machine was too busy: one probe in six had its client saturated (and left out). The simulated week is
# Mon 2026-11-16 to Sun 2026-11-22, America/New_York; the presets slow down in US
# business hours (weekdays 9-17), gpt-4o-mini most, claude-3-5-haiku least.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-reports/timeofday-demo}
warp=${WARP:-4032}
# DAYS (default 7) simulates only the week's last days: 3 is Friday to Sunday, one
# weekday and the weekend, in about a minute (what the test suite runs).
days=${DAYS:-7}
case "$days" in [1-7]) ;; *) echo "demo: DAYS must be 1 to 7, got $days" >&2; exit 2 ;; esac
profile="$here/../profiles/timeofday-demo.toml"
# Six simulated hours of lead, so the scheduler is up before the first day's 00:00.
first_day=$((16 + 7 - days))
sim_start="2026-11-$((first_day - 1))T18:00:00-05:00"
week_start="2026-11-${first_day}T00:00:00-05:00"
week_end="2026-11-22T23:59:59-05:00"

mkdir -p "$out"
rm -f "$out"/loadtest.db "$out"/loadtest.db-wal "$out"/loadtest.db-shm
rm -rf "$out/runs"

loadtest mock --port 0 --time-warp "$warp" --sim-start "$sim_start" >"$out/mock.log" 2>&1 &
mock=$!
trap 'kill "$mock" 2>/dev/null || true; wait "$mock" 2>/dev/null || true' EXIT
url=""
for _ in $(seq 100); do
    url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$out/mock.log" | head -1 || true)
    [ -n "$url" ] && break
    kill -0 "$mock" 2>/dev/null || { cat "$out/mock.log" >&2; exit 1; }
    sleep 0.1
done
[ -n "$url" ] || { echo "demo: the simulator did not start" >&2; exit 1; }
echo "simulator at $url, time warp ${warp}x"

export OPENAI_BASE_URL="$url/v1" ANTHROPIC_BASE_URL="$url" LOADTEST_DEMO_KEY=demo
# The simulator stands in for a remote provider, which would not share CPU with the
# client. Here it does: the probes run niced, so that a burst of probe processes
# starting up on a small machine cannot delay the simulator's timers (its TTFTs).
nice -n 10 loadtest schedule "$profile" --store "$out/loadtest.db" --out "$out/runs" \
    --until "$week_end"

for fmt in html json; do
    loadtest report timeofday --store "$out/loadtest.db" --since "$week_start" \
        --tz America/New_York --format "$fmt" -o "$out/timeofday.$fmt"
done
loadtest report timeofday --store "$out/loadtest.db" --since "$week_start" \
    --tz America/New_York --format term
if [ -t 1 ] && command -v xdg-open >/dev/null; then
    xdg-open "$out/timeofday.html" >/dev/null 2>&1 || true
fi

#!/bin/bash
# File serving, two builds side by side (bench/README.md, "Serving renditions"): each build's server on
# its own copy of one data dir holding an encoded video, autocannon in its own process, short runs
# alternating between the builds, the order flipped every round (on a shared box the first run of a pair
# wins most pairs, whichever build it is). Per run: req/s, latency, and the server's CPU time per request
# (utime + stime from /proc, so a busy box inflates it less than it does throughput).
#
# Usage: bench/tools/file-serving-ab.sh <before checkout> <after checkout> <data dir> <video id>
#   Both checkouts built (`npm run build`); the data dir holds the video SUCCEEDED (upload it with
#   `npm start` first) and is copied for the second server. Environment: ROUNDS (6), SECONDS_EACH (5),
#   CONNECTIONS (32), SCENARIOS ("whole range range1k thumb revalidate"), OUT (file-serving-ab.jsonl).
set -eu
before=$1 after=$2 data=$3 id=$4
rounds=${ROUNDS:-6} seconds=${SECONDS_EACH:-5} connections=${CONNECTIONS:-32}
scenarios=${SCENARIOS:-whole range range1k thumb revalidate}
out=${OUT:-file-serving-ab.jsonl}
autocannon="$(cd "$(dirname "$0")/../.." && pwd)/node_modules/.bin/autocannon"
copy=$(mktemp -d)
cp -a "$data/." "$copy/"

start() { (cd "$1" && DATA_DIR="$2" PORT="$3" LOG_LEVEL=warn exec node dist/src/server/main.js >/dev/null 2>&1) & echo $!; }
pid_before=$(start "$before" "$data" 3555)
pid_after=$(start "$after" "$copy" 3556)
trap 'kill -TERM $pid_before $pid_after 2>/dev/null; wait; rm -rf "$copy"' EXIT
for port in 3555 3556; do for _ in $(seq 1 60); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 1; done; done

cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
for round in $(seq 1 "$rounds"); do
  for scenario in $scenarios; do
    order="before after"; [ $((round % 2)) = 0 ] && order="after before"
    for build in $order; do
      port=3555 pid=$pid_before; [ "$build" = after ] && port=3556 pid=$pid_after
      url="http://127.0.0.1:$port/videos/$id/renditions/720"
      case $scenario in
        whole) headers=() ;;
        range) headers=(-H 'range=bytes=0-65535') ;;
        range1k) headers=(-H 'range=bytes=0-1023') ;;
        thumb) headers=(); url="http://127.0.0.1:$port/videos/$id/thumbnail" ;;
        revalidate) headers=(-H "if-none-match=$(curl -sI "$url" | tr -d '\r' | awk -F': ' 'tolower($1) == "etag" { print $2 }')") ;;
      esac
      t0=$(cpu "$pid")
      json=$("$autocannon" -c "$connections" -d "$seconds" --json "${headers[@]}" "$url" 2>/dev/null)
      t1=$(cpu "$pid")
      echo "{\"round\":$round,\"build\":\"$build\",\"scenario\":\"$scenario\",\"cpuTicks\":$((t1 - t0)),\"ticksPerSecond\":$(getconf CLK_TCK),\"r\":$json}" >> "$out"
      echo "$json" | node -e '
        const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
        const [round, scenario, build, ticks, hz] = process.argv.slice(1);
        const cpuUs = (Number(ticks) / Number(hz)) * 1e6 / r.requests.total;
        console.log(round, scenario, build, "req/s", r.requests.average, "p50", r.latency.p50, "p99", r.latency.p99, "2xx", r["2xx"], "other", r.non2xx, "errors", r.errors, "cpu us/req", cpuUs.toFixed(0));
      ' "$round" "$scenario" "$build" "$((t1 - t0))" "$(getconf CLK_TCK)"
    done
  done
done

#!/bin/bash
# The watch cache feed's CPU per pod create, from one `bench-api --only creates` run with
# `perf record` on the server: the share of samples on the threads that run the feed
# (CacheFeed / WatchCache / LogWatcher / OrderedKeys in more than a quarter of their samples)
# times the benchmark's server CPU per create. Also the request (event loop) and SQLite writer
# threads' shares. Needs perf and release builds of capstan and bench-api (see bench-api).
#
#   Benchmarks/feed-cpu.sh [CAPSTAN] [TAG]     (run from the repository root)
set -eu
capstan=${1:-.build/release/capstan}
tag=${2:-run}
out=${TMPDIR:-/tmp}/feed-cpu-$tag-$$
.build/release/bench-api --only creates --create-rounds 2 --create-seconds 8 --capstan "$capstan" > "$out.log" 2>&1 &
bench=$!
sleep 5
server=$(pgrep -f "$capstan apiserver")
perf record -F 999 -g -p "$server" -o "$out.perf" -- sleep 26 > /dev/null 2>&1 || true
wait $bench
cpu=$(grep -m1 "server CPU" "$out.log" | sed 's/.*server CPU per call //; s/ µs for pods.*//')
perf script -i "$out.perf" -F tid,ip,sym 2> /dev/null | awk -v TAG="$tag" -v CPU="$cpu" '
    BEGIN { RS = "" }
    {
        split($0, lines, "\n"); split(lines[1], head, " "); tid = head[1]
        total[tid]++; all++
        if ($0 ~ /EventLoopC3run/) loop[tid]++
        if ($0 ~ /CacheFeed|WatchCache|LogWatcher|OrderedKeys/) feed[tid]++
        if ($0 ~ /WriterThread/) writer[tid]++
    }
    END {
        for (t in total) {
            if (loop[t] > total[t] / 2) L += total[t]
            else if (writer[t] > 0) W += total[t]
            else if (feed[t] > total[t] / 4) F += total[t]
            else O += total[t]
        }
        printf "%s: server CPU per create %s µs; samples: event loop %d, writer %d, feed %d, other %d; ", TAG, CPU, L, W, F, O
        printf "feed %.1f µs per create (feed/loop %.3f)\n", F / all * CPU, F / L
    }'
rm -f "$out.perf" "$out.perf.old" "$out.log"

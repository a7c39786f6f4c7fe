#!/usr/bin/env bash
# Per pod create through the API server, what timing cannot show steadily on a shared machine:
# mallocs, retains and releases on the loop thread (the request path: HTTP/2, RPC, decode,
# validation, Registry.insert, encode) and in the whole process, with CPU time per create.
# Runs `bench-api --only creates` and counts with perf over its whole run; creates are counted
# by a uprobe on nghttp2_submit_response (one response per create). With `counts`, uprobes on
# malloc, swift_retain and swift_release slow the server down: only the counts matter then.
#
# Usage (root, perf; from the repository root, after
#   swift build -c release --product capstan && swift build -c release --product bench-api):
#   Benchmarks/rpc/create-counts.sh [counts]
set -euo pipefail
core=/opt/swift/usr/lib/swift/linux/libswiftCore.so
libc=$(ldconfig -p | awk '/libc.so.6 .*x86-64/{print $NF; exit}')
nghttp2=$(ldd .build/release/capstan | awk '/libnghttp2/{print $3}')
# Probes are system-wide and stay defined; adding one that exists fails harmlessly.
perf probe -q -x "$nghttp2" nghttp2_submit_response 2>/dev/null || true
events=task-clock,probe_libnghttp2:nghttp2_submit_response
if [ "${1:-}" = counts ]; then
  perf probe -q -x "$libc" malloc 2>/dev/null || true
  perf probe -q -x "$core" swift_retain 2>/dev/null || true
  perf probe -q -x "$core" swift_release 2>/dev/null || true
  events+=,probe_libc:malloc,probe_libswiftCore:swift_retain,probe_libswiftCore:swift_release
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.build/release/bench-api --only creates --create-rounds 2 --create-seconds 8 > "$work/bench.log" 2>&1 &
bench=$!
pid=
for _ in $(seq 1 300); do
  pid=$(pgrep -n -f "$PWD/.build/release/capstan apiserver" || true)
  [ -n "$pid" ] && break
  sleep 0.1
done
[ -n "$pid" ] || { echo "no capstan apiserver started"; cat "$work/bench.log"; exit 1; }
sleep 2 # the loop threads start after the process
perf stat -x, --per-thread -e "$events" -p "$pid" -o "$work/stat" & stat=$!
wait "$bench"
kill -INT "$stat" 2>/dev/null || true
wait "$stat" || true
grep -m1 "server CPU per call" "$work/bench.log"
awk -F, '
  $4 ~ /nghttp2_submit_response/ { n += $2; next }
  $2 ~ /^[0-9.]+$/ { all[$4] += $2; if ($1 ~ /capstan-loop/) loop[$4] += $2 }
  function show(a, e) { return e == "task-clock" ? sprintf("CPU %.1f us", a[e] * 1000 / n) : sprintf("%s %.1f", e, a[e] / n) }
  END {
    if (n == 0) { print "no creates counted"; exit 1 }
    printf "creates %d; per create on the loop thread:", n; for (e in loop) printf "  %s", show(loop, e)
    printf "\n  in the whole process:"; for (e in all) printf "  %s", show(all, e); print ""
  }' "$work/stat"

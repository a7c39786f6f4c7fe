#!/usr/bin/env bash
# Compares the server CPU time per unary call of two capstan-interop builds under the same
# machine load: both servers run at once, each under its own h2load (same shape, same count),
# so other work on the machine inflates both alike. On a shared 2-core machine calls/s and even
# CPU per call of runs made one after the other vary by ±20%; the ratio of a pair stays within
# a few percent. Prints one line per round: A's and B's CPU µs per call and B/A.
#
# Usage: cpu-pair.sh A_BINARY B_BINARY [ROUNDS]   (env: CALLS per round, default 200000;
#        STREAMS, h2load -m, default 64; the request is bench-rpc.sh's UnaryCall)
set -euo pipefail
a=$1; b=$2; rounds=${3:-3}; calls=${CALLS:-200000}; streams=${STREAMS:-64}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
{ printf '\x00\x00\x00\x00\x46\x10\x40\x1a\x42\x12\x40'; head -c 64 /dev/zero; } > "$work/request.bin"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() {
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "server on port $1 did not start" >&2; return 1
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
load() { # port calls log
  h2load -n "$2" -c 16 -m "$streams" -t 1 -d "$work/request.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:$1/grpc.testing.TestService/UnaryCall" > "$3" 2>&1 || true
}
hz=$(getconf CLK_TCK)
for _ in $(seq 1 "$rounds"); do
  pa=$(free_port); pb=$(free_port)
  "$a" server --port "$pa" > /dev/null 2>&1 & ia=$!; pids+=("$ia")
  "$b" server --port "$pb" > /dev/null 2>&1 & ib=$!; pids+=("$ib")
  wait_port "$pa"; wait_port "$pb"
  load "$pa" 30000 "$work/warm-a"; load "$pb" 30000 "$work/warm-b"
  a0=$(cpu_ticks "$ia"); b0=$(cpu_ticks "$ib")
  load "$pa" "$calls" "$work/a.log" & la=$!
  load "$pb" "$calls" "$work/b.log"
  wait "$la"
  a1=$(cpu_ticks "$ia"); b1=$(cpu_ticks "$ib")
  kill "$ia" "$ib"; wait "$ia" "$ib" 2>/dev/null || true
  ok_a=$(awk '/^requests:/{print $8}' "$work/a.log"); ok_b=$(awk '/^requests:/{print $8}' "$work/b.log")
  awk -v a=$((a1 - a0)) -v b=$((b1 - b0)) -v n="$calls" -v hz="$hz" -v oa="$ok_a" -v ob="$ok_b" \
    'BEGIN{ printf "A %.2f µs/call  B %.2f µs/call  B/A %.3f  (succeeded %s, %s)\n", a*1e6/hz/n, b*1e6/hz/n, b/a, oa, ob }'
done

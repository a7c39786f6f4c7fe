#!/usr/bin/env bash
# Counts, per unary call, what the server's CPU time per call is made of and what timing cannot
# show steadily on a shared machine: executor checks (swift_task_switch, each of which locks the
# task's status records when the task prefers an executor), jobs enqueued, mallocs, retains and
# releases. Uprobes count every call exactly (they slow the server down; only the counts matter).
# Runs each binary in turn under bench-rpc.sh's UnaryCall load (h2load -c 16 -m 64) and prints
# one line per binary.
#
# Usage (root, perf): per-call-counts.sh BINARY [BINARY...]   (env: CALLS, default 20000)
set -euo pipefail
calls=${CALLS:-20000}
concurrency=/opt/swift/usr/lib/swift/linux/libswift_Concurrency.so
core=/opt/swift/usr/lib/swift/linux/libswiftCore.so
libc=$(ldconfig -p | awk '/libc.so.6 .*x86-64/{print $NF; exit}')
# Probes are system-wide and stay defined; adding one that exists fails harmlessly.
perf probe -q -x "$concurrency" swift_task_switch 2>/dev/null || true
perf probe -q -x "$concurrency" swift_task_enqueue 2>/dev/null || true
perf probe -q -x "$core" swift_retain 2>/dev/null || true
perf probe -q -x "$core" swift_release 2>/dev/null || true
perf probe -q -x "$libc" malloc 2>/dev/null || true
events=probe_libswift_Concurrency:swift_task_switch,probe_libswift_Concurrency:swift_task_enqueue
events+=,probe_libc:malloc,probe_libswiftCore:swift_retain,probe_libswiftCore:swift_release

work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
{ printf '\x00\x00\x00\x00\x46\x10\x40\x1a\x42\x12\x40'; head -c 64 /dev/zero; } > "$work/request.bin"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
load() { # port calls
  h2load -n "$2" -c 16 -m 64 -t 1 -d "$work/request.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:$1/grpc.testing.TestService/UnaryCall" > "$work/h2load.log" 2>&1 || true
}
for binary in "$@"; do
  port=$(free_port)
  "$binary" server --port "$port" > /dev/null 2>&1 & pid=$!
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  load "$port" 20000 # warm up: connections, idle handler tasks, caches
  perf stat -x, -e "$events" -p "$pid" -o "$work/stat" & stat=$!
  sleep 0.5
  load "$port" "$calls"
  kill -INT "$stat"; wait "$stat" || true
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  ok=$(awk '/^requests:/{print $8}' "$work/h2load.log")
  awk -F, -v n="$calls" -v ok="$ok" -v name="$binary" '
    /swift_task_switch/{s=$1} /swift_task_enqueue/{q=$1} /malloc/{m=$1} /swift_retain/{r=$1} /swift_release/{l=$1}
    END { printf "%s: per call  task switches %.2f  enqueues %.2f  mallocs %.2f  retains %.2f  releases %.2f  (succeeded %s)\n",
          name, s/n, q/n, m/n, r/n, l/n, ok }' "$work/stat"
done

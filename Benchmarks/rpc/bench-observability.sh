#!/usr/bin/env bash
# make bench-obs: what request logs and metrics cost per call. Unary echo calls under h2load
# against capstan-h2-echo started three ways, in one run, on 127.0.0.1:
#   plain    — RPCServer with no interceptor (the anchor)
#   metrics  — with metrics (MetricsObserver: keeps the unary fast path)
#   +log     — with request logs (RequestLogObserver, info: one text line per call, to /dev/null)
#              and metrics
#   metrics-i, +log-i — the same as interceptors (MetricsInterceptor, RequestLogInterceptor), which
#              turn off the unary fast path: what observers save
# Rounds alternate the servers (plain, metrics, +log, plain, …) so drift on a shared machine hits
# all of them. Reported per server: the best round's calls/s, and the server's CPU time per call
# (user + system from /proc, summed over all rounds): the steadier figure on a loaded machine.
# Ratios are against plain.
#
# Env: SECONDS_PER_RUN (default 5), ROUNDS (default 3), CAPSTAN_H2_ECHO (the release binary);
#      BASELINE_H2_ECHO (optional): another build of capstan-h2-echo (e.g. of an earlier commit),
#      measured plain as "baseline" in the same rounds, for a before/after of the RPC core itself.
set -euo pipefail
run_seconds=${SECONDS_PER_RUN:-5}
rounds=${ROUNDS:-3}
echo_server=${CAPSTAN_H2_ECHO:?set CAPSTAN_H2_ECHO to the capstan-h2-echo binary}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# Request and response: a 64-byte payload, gRPC-framed (5 + 64 bytes); the echo answers the same.
{ printf '\x00\x00\x00\x00\x40'; head -c 64 /dev/zero; } > "$work/request.bin"
response_bytes=69

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

wait_port() {
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "server on port $1 did not start" >&2; return 1
}

start() { # name port args...
  local name=$1 port=$2 binary=$echo_server; shift 2
  if [ "$name" = baseline ]; then binary=$BASELINE_H2_ECHO; fi
  "$binary" --port "$port" "$@" > "$work/$name.out" 2> /dev/null &
  pids+=($!)
  eval "pid_$name=$!"
  wait_port "$port"
}

# CPU ticks (user + system) a process has used.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# One h2load run; prints "rate succeeded ok".
load() { # port
  local log="$work/h2load-$1.log"
  h2load -D "$run_seconds" -c 16 -m 64 -t 1 -d "$work/request.bin" \
    -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:$1/capstan.test.Echo/Unary" > "$log" 2>&1 || true
  local rate succeeded data ok="ok"
  rate=$(awk '/^finished in/{gsub(",","",$4); print $4}' "$log")
  succeeded=$(awk '/^requests:/{print $8}' "$log")
  data=$(grep '^traffic:' "$log" | grep -oE '\([0-9]+\) data' | tr -dc 0-9)
  if [ -z "$succeeded" ] || [ "$succeeded" = 0 ] || [ "$data" != "$((succeeded * response_bytes))" ]; then ok="BAD(data=$data succeeded=$succeeded)"; fi
  echo "$rate ${succeeded:-0} $ok"
}

p_plain=$(free_port); start plain "$p_plain"
p_metrics=$(free_port); start metrics "$p_metrics" --metrics
p_log=$(free_port); start log "$p_log" --metrics --log
p_metrics_i=$(free_port); start metrics_i "$p_metrics_i" --metrics --interceptors
p_log_i=$(free_port); start log_i "$p_log_i" --metrics --log --interceptors
servers="plain metrics log metrics_i log_i"
if [ -n "${BASELINE_H2_ECHO:-}" ]; then
  p_baseline=$(free_port); start baseline "$p_baseline"
  servers="baseline $servers"
fi

hz=$(getconf CLK_TCK)
declare -A best checks ticks calls
for name in $servers; do best[$name]=0; checks[$name]=ok; ticks[$name]=0; calls[$name]=0; done
for round in $(seq 1 "$rounds"); do
  for name in $servers; do
    port_var="p_$name" pid_var="pid_$name"
    before=$(cpu_ticks "${!pid_var}")
    read -r rate succeeded ok < <(load "${!port_var}")
    after=$(cpu_ticks "${!pid_var}")
    ticks[$name]=$(( ${ticks[$name]} + after - before ))
    calls[$name]=$(( ${calls[$name]} + succeeded ))
    echo "round $round $name: $rate calls/s, $(( after - before )) CPU ticks, $ok"
    [ "$ok" = ok ] || checks[$name]=$ok
    best[$name]=$(awk -v a="$rate" -v b="${best[$name]}" 'BEGIN{ print (a > b ? a : b) }')
  done
done

cpu_us() { awk -v t="${ticks[$1]}" -v n="${calls[$1]}" -v hz="$hz" 'BEGIN{ printf "%.2f", (n > 0 ? t / hz * 1e6 / n : 0) }'; }
printf '\n%-9s %12s %8s %14s %8s  %s\n' server 'best call/s' ratio 'CPU µs/call' ratio check
for name in $servers; do
  ratio=$(awk -v a="${best[$name]}" -v b="${best[plain]}" 'BEGIN{ printf "%.3f", a / b }')
  cpu=$(cpu_us "$name")
  cpu_ratio=$(awk -v a="$cpu" -v b="$(cpu_us plain)" 'BEGIN{ printf "%.3f", (b > 0 ? a / b : 0) }')
  case $name in log) label="+log" ;; metrics_i) label="metrics-i" ;; log_i) label="+log-i" ;; *) label=$name ;; esac
  printf '%-9s %12.0f %8s %14s %8s  %s\n' "$label" "${best[$name]}" "$ratio" "$cpu" "$cpu_ratio" "${checks[$name]}"
done

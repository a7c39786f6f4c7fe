#!/usr/bin/env bash
# make bench-rpc: gRPC servers side by side in one run, on 127.0.0.1:
#   capstan   — capstan-interop server (our HTTP/2 transport, release build)
#   nghttpd   — nghttpd --no-tls serving the same gRPC-framed response as a static file, with a
#               grpc-status trailer: the ceiling of any nghttp2 server on this machine (unary only)
#   grpc-c++  — a grpc C++ TestService server (Benchmarks/grpc-cpp), what most users would pick
#
# 1. Unary calls under h2load (-c 16 -m 64 and -c 16 -m 1). Every server answers
#    grpc.testing.TestService/UnaryCall with the same 73-byte framed response, so "data bytes ==
#    73 × succeeded" proves each response carried a message (an error would be a trailers-only
#    response with no DATA). Ratios are against nghttpd in the same run. At -m 64 capstan runs a second time with every
#    call carrying `grpc-timeout: 10S` (row "capstan+dl"): what a deadline that the call meets
#    costs the server. The server's RSS is
#    sampled during each run (start → end, and the peak): memory must stay flat under load.
# 2. Server-streaming messages/s over STREAMS (default 1,000) concurrent StreamingOutputCall calls
#    (each asking for STREAM_MESSAGES responses of 64 bytes), driven by the grpc C++ load client
#    (Benchmarks/grpc-cpp/load_client.cc) against capstan and grpc-c++ alike; ratio capstan/grpc-c++.
# 3. RSS after IDLE_CONNECTIONS (default 10,000) idle connections, each having made one unary
#    call (fresh server processes; descriptor limits raised on both sides).
#
# Env: SECONDS_PER_RUN (default 10), REQUESTS (cap per h2load run, default 2000000), STREAMS,
#      STREAM_MESSAGES (default 100), IDLE_CONNECTIONS, SKIP_UNARY/SKIP_STREAMING/SKIP_IDLE=1,
#      CAPSTAN_INTEROP, GRPC_CPP_SERVER, GRPC_LOAD_CLIENT (paths to the built programs; the
#      Makefile builds them).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run_seconds=${SECONDS_PER_RUN:-10}
max_requests=${REQUESTS:-2000000}
capstan=${CAPSTAN_INTEROP:?set CAPSTAN_INTEROP to the capstan-interop binary}
grpc_cpp=${GRPC_CPP_SERVER:?set GRPC_CPP_SERVER to the grpc C++ echo server binary}
load_client=${GRPC_LOAD_CLIENT:-$(dirname "$grpc_cpp")/load_client}
streams=${STREAMS:-1000}
stream_messages=${STREAM_MESSAGES:-100}
idle_connections=${IDLE_CONNECTIONS:-10000}
# 10,000 connections need more descriptors than the default 1,024 (servers inherit this limit).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# Request: SimpleRequest{response_size: 64, payload: {body: 64 zero bytes}}, framed (5 + 70 bytes).
# Response: SimpleResponse{payload: {body: 64 zero bytes}}, framed (5 + 68 bytes).
{ printf '\x00\x00\x00\x00\x46\x10\x40\x1a\x42\x12\x40'; head -c 64 /dev/zero; } > "$work/request.bin"
mkdir -p "$work/docroot/grpc.testing.TestService"
{ printf '\x00\x00\x00\x00\x44\x0a\x42\x12\x40'; head -c 64 /dev/zero; } > "$work/docroot/grpc.testing.TestService/UnaryCall"
response_bytes=73

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

wait_port() {
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "server on port $1 did not start" >&2; return 1
}

start() { # name port command...
  local name=$1 port=$2; shift 2
  "$@" > "$work/$name.log" 2>&1 &
  pids+=($!)
  wait_port "$port"
}

rss_kib() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
# CPU time (user + system) a process has used, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ticks_per_second=$(getconf CLK_TCK)

# Samples a process's RSS (KiB) every 0.25 s into a file until the sampler is killed.
sample_rss() { # pid file
  while [ -e "/proc/$1/status" ]; do rss_kib "$1" >> "$2" 2>/dev/null || true; sleep 0.25; done
}
# "start→end MiB (peak P)" from a sample file.
rss_summary() {
  awk 'NR==1{first=$1} {last=$1; if ($1>max) max=$1} END{ if (NR==0) print "-"; else printf "%.1f→%.1f MiB (peak %.1f)", first/1024, last/1024, max/1024 }' "$1"
}

p_capstan=$(free_port); start capstan "$p_capstan" "$capstan" server --port "$p_capstan"; pid_capstan=${pids[-1]}
p_nghttpd=$(free_port); start nghttpd "$p_nghttpd" nghttpd --no-tls -d "$work/docroot" --trailer 'grpc-status: 0' "$p_nghttpd"
pid_nghttpd=${pids[-1]}
p_cpp=$(free_port); start grpc-cpp "$p_cpp" "$grpc_cpp" "$p_cpp"; pid_cpp=${pids[-1]}

# One h2load run; prints "rate p50_us p99_us ok cpu_us_per_call" and checks every response
# carried the message. The server's CPU time per call does not depend on how busy the machine
# is the way calls/s does. The server's RSS samples go to $work/rss-PORT-C-M.
load() { # port connections streams pid [extra request header]
  local tag="$1-$2-$3${5:+-dl}"
  local port=$1 c=$2 m=$3 log="$work/h2load-$tag.log" lat="$work/lat-$tag.log"
  local extra=()
  if [ -n "${5:-}" ]; then extra=(-H "$5"); fi
  sample_rss "$4" "$work/rss-$tag" & local sampler=$!
  local cpu_before; cpu_before=$(cpu_ticks "$4")
  h2load -D "$run_seconds" -c "$c" -m "$m" -t 1 -d "$work/request.bin" \
    -H 'content-type: application/grpc' -H 'te: trailers' "${extra[@]}" --log-file="$lat" \
    "http://127.0.0.1:$port/grpc.testing.TestService/UnaryCall" > "$log" 2>&1 || true
  local cpu_after; cpu_after=$(cpu_ticks "$4")
  rss_kib "$4" >> "$work/rss-$tag" 2>/dev/null || true
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
  local rate succeeded data
  rate=$(awk '/^finished in/{gsub(",","",$4); print $4}' "$log")
  succeeded=$(awk '/^requests:/{print $8}' "$log")
  data=$(grep '^traffic:' "$log" | grep -oE '\([0-9]+\) data' | tr -dc 0-9)
  local ok="ok"
  if [ -z "$succeeded" ] || [ "$succeeded" = 0 ] || [ "$data" != "$((succeeded * response_bytes))" ]; then ok="BAD(data=$data succeeded=$succeeded)"; fi
  local p50="-" p99="-" n
  awk '{print $3}' "$lat" | sort -n > "$lat.sorted"
  n=$(wc -l < "$lat.sorted")
  if [ "$n" -gt 0 ]; then
    p50=$(sed -n "$(( (n + 1) / 2 ))p" "$lat.sorted")
    p99=$(sed -n "$(( (n * 99 + 99) / 100 ))p" "$lat.sorted")
  fi
  local cpu_us
  cpu_us=$(awk -v t=$((cpu_after - cpu_before)) -v hz="$ticks_per_second" -v n="${succeeded:-0}" \
    'BEGIN{ if (n > 0) printf "%.1f", t * 1000000 / hz / n; else print "-" }')
  echo "$rate $p50 $p99 $ok $cpu_us"
}

if [ "${SKIP_UNARY:-0}" != 1 ]; then
  echo "== unary calls (h2load; ratio against nghttpd; server RSS during the run)"
  echo "   (cpu µs/call: the server's CPU time per call; cpu ratio: nghttpd's CPU per call / this one's)"
  printf '%-10s %-12s %12s %10s %10s %8s %12s %9s  %-5s  %s\n' server load 'calls/s' 'p50 µs' 'p99 µs' 'ratio' \
    'cpu µs/call' 'cpu ratio' check 'RSS start→end (peak)'
  for shape in "16 64" "16 1"; do
    read -r c m <<< "$shape"
    read -r r_ng p50_ng p99_ng ok_ng cpu_ng < <(load "$p_nghttpd" "$c" "$m" "$pid_nghttpd")
    read -r r_ca p50_ca p99_ca ok_ca cpu_ca < <(load "$p_capstan" "$c" "$m" "$pid_capstan")
    read -r r_cpp p50_cpp p99_cpp ok_cpp cpu_cpp < <(load "$p_cpp" "$c" "$m" "$pid_cpp")
    rows=("nghttpd $p_nghttpd-$c-$m $r_ng $p50_ng $p99_ng $ok_ng $cpu_ng" "capstan $p_capstan-$c-$m $r_ca $p50_ca $p99_ca $ok_ca $cpu_ca"
          "grpc-c++ $p_cpp-$c-$m $r_cpp $p50_cpp $p99_cpp $ok_cpp $cpu_cpp")
    if [ "$m" = 64 ]; then
      read -r r_dl p50_dl p99_dl ok_dl cpu_dl < <(load "$p_capstan" "$c" "$m" "$pid_capstan" 'grpc-timeout: 10S')
      rows+=("capstan+dl $p_capstan-$c-$m-dl $r_dl $p50_dl $p99_dl $ok_dl $cpu_dl")
    fi
    for row in "${rows[@]}"; do
      read -r name tag rate p50 p99 ok cpu <<< "$row"
      ratio=$(awk -v a="$rate" -v b="$r_ng" 'BEGIN{ if (b > 0) printf "%.2f", a / b; else print "-" }')
      cpu_ratio=$(awk -v a="$cpu" -v b="$cpu_ng" 'BEGIN{ if (a > 0 && b > 0) printf "%.2f", b / a; else print "-" }')
      printf '%-10s %-12s %12s %10s %10s %8s %12s %9s  %-5s  %s\n' "$name" "-c$c -m$m" "$rate" "$p50" "$p99" "$ratio" \
        "$cpu" "$cpu_ratio" "$ok" "$(rss_summary "$work/rss-$tag")"
    done
  done
fi

if [ "${SKIP_STREAMING:-0}" != 1 ]; then
  echo "== server streaming: $streams concurrent StreamingOutputCall calls, $stream_messages × 64-byte responses each (grpc C++ load client)"
  printf '%-10s %14s %8s  %s\n' server 'messages/s' 'ratio' 'client report'
  stream_run() { # port pid
    local before; before=$(cpu_ticks "$2")
    local out; out=$(timeout $((run_seconds + 60)) "$load_client" stream "127.0.0.1:$1" "$streams" "$run_seconds" "$stream_messages" 64 10 2>&1 | tail -1)
    local after; after=$(cpu_ticks "$2")
    echo "$out server_cpu_seconds=$(awk -v t=$((after - before)) -v hz="$ticks_per_second" 'BEGIN{printf "%.1f", t / hz}')"
  }
  out_ca=$(stream_run "$p_capstan" "$pid_capstan")
  out_cpp=$(stream_run "$p_cpp" "$pid_cpp")
  m_ca=$(sed -n 's/.*messages_per_second=\([0-9]*\).*/\1/p' <<< "$out_ca")
  m_cpp=$(sed -n 's/.*messages_per_second=\([0-9]*\).*/\1/p' <<< "$out_cpp")
  ratio=$(awk -v a="${m_ca:-0}" -v b="${m_cpp:-0}" 'BEGIN{ if (b > 0) printf "%.2f", a / b; else print "-" }')
  printf '%-10s %14s %8s  %s\n' capstan "${m_ca:--}" "$ratio" "$out_ca"
  printf '%-10s %14s %8s  %s\n' grpc-c++ "${m_cpp:--}" 1.00 "$out_cpp"
fi
echo "capstan RSS after the load above: $(( $(rss_kib "$pid_capstan") / 1024 )) MiB; grpc-c++: $(( $(rss_kib "$pid_cpp") / 1024 )) MiB"

if [ "${SKIP_IDLE:-0}" != 1 ]; then
  echo "== $idle_connections idle connections, each after one unary call (fresh servers; server VmRSS)"
  printf '%-10s %12s %12s %14s  %s\n' server 'RSS before' 'RSS idle' 'KiB/connection' 'client report'
  idle_run() { # name command...
    local name=$1; shift
    local port; port=$(free_port)
    "$@" "$port" > "$work/idle-$name.log" 2>&1 &
    local server=$!
    pids+=("$server")
    wait_port "$port"
    sleep 0.5
    local before; before=$(rss_kib "$server")
    mkfifo "$work/idle-$name.fifo"
    timeout 600 "$load_client" idle "127.0.0.1:$port" "$idle_connections" < "$work/idle-$name.fifo" > "$work/idle-$name.client" 2>&1 &
    local client=$!
    exec 7> "$work/idle-$name.fifo"
    for _ in $(seq 1 3000); do
      grep -q '^ready' "$work/idle-$name.client" 2>/dev/null && break
      kill -0 "$client" 2>/dev/null || break
      sleep 0.1
    done
    sleep 1
    local idle; idle=$(rss_kib "$server")
    local report; report=$(grep '^ready' "$work/idle-$name.client" || echo "client failed: $(tail -1 "$work/idle-$name.client")")
    exec 7>&-
    wait "$client" 2>/dev/null || true
    kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true
    printf '%-10s %8.1f MiB %8.1f MiB %14.1f  %s\n' "$name" "$(awk -v k="$before" 'BEGIN{print k/1024}')" \
      "$(awk -v k="$idle" 'BEGIN{print k/1024}')" "$(awk -v a="$idle" -v b="$before" -v n="$idle_connections" 'BEGIN{print (a-b)/n}')" "$report"
  }
  idle_run capstan "$capstan" server --port
  idle_run grpc-c++ "$grpc_cpp"
fi

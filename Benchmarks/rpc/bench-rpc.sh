#!/usr/bin/env bash
# make bench-rpc: unary gRPC calls under h2load against three servers in one run, on 127.0.0.1:
#   capstan   — capstan-interop server (our HTTP/2 transport, release build)
#   nghttpd   — nghttpd --no-tls serving the same gRPC-framed response as a static file, with a
#               grpc-status trailer: the ceiling of any nghttp2 server on this machine
#   grpc-c++  — a grpc C++ TestService server (Benchmarks/grpc-cpp), what most users would pick
# Every server answers grpc.testing.TestService/UnaryCall with the same 73-byte framed response,
# so "data bytes == 73 × succeeded" proves each response carried a message (an error would be a
# trailers-only response with no DATA). Figures are ratios against nghttpd in the same run.
#
# Env: SECONDS_PER_RUN (default 10), CAPSTAN_INTEROP,
#      GRPC_CPP_SERVER (paths to the built servers; the Makefile builds them).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run_seconds=${SECONDS_PER_RUN:-10}
capstan=${CAPSTAN_INTEROP:?set CAPSTAN_INTEROP to the capstan-interop binary}
grpc_cpp=${GRPC_CPP_SERVER:?set GRPC_CPP_SERVER to the grpc C++ echo server binary}
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

p_capstan=$(free_port); start capstan "$p_capstan" "$capstan" server --port "$p_capstan"; pid_capstan=${pids[-1]}
p_nghttpd=$(free_port); start nghttpd "$p_nghttpd" nghttpd --no-tls -d "$work/docroot" --trailer 'grpc-status: 0' "$p_nghttpd"
p_cpp=$(free_port); start grpc-cpp "$p_cpp" "$grpc_cpp" "$p_cpp"

# One h2load run (Benchmarks/lib/h2load-grpc.sh); prints "rate p50_us p99_us ok".
load() { # port connections streams
  "$here/../lib/h2load-grpc.sh" "http://127.0.0.1:$1/grpc.testing.TestService/UnaryCall" "$work/request.bin" \
    "$response_bytes" "$2" "$3" "$run_seconds"
}

printf '%-10s %-12s %12s %10s %10s %8s  %s\n' server load 'calls/s' 'p50 µs' 'p99 µs' 'ratio' check
for shape in "16 64" "16 1"; do
  read -r c m <<< "$shape"
  read -r r_ng p50_ng p99_ng ok_ng < <(load "$p_nghttpd" "$c" "$m")
  read -r r_ca p50_ca p99_ca ok_ca < <(load "$p_capstan" "$c" "$m")
  read -r r_cpp p50_cpp p99_cpp ok_cpp < <(load "$p_cpp" "$c" "$m")
  for row in "nghttpd $r_ng $p50_ng $p99_ng $ok_ng" "capstan $r_ca $p50_ca $p99_ca $ok_ca" "grpc-c++ $r_cpp $p50_cpp $p99_cpp $ok_cpp"; do
    read -r name rate p50 p99 ok <<< "$row"
    ratio=$(awk -v a="$rate" -v b="$r_ng" 'BEGIN{ if (b > 0) printf "%.2f", a / b; else print "-" }')
    printf '%-10s %-12s %12s %10s %10s %8s  %s\n' "$name" "-c$c -m$m" "$rate" "$p50" "$p99" "$ratio" "$ok"
  done
done
echo "capstan RSS after load: $(rss_kib "$pid_capstan") KiB"

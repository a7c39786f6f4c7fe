#!/usr/bin/env bash
# One h2load run of a unary gRPC call; prints "calls/s p50_µs p99_µs check" on one line.
# Shared by bench-rpc.sh and bench-api (Sources/bench-api).
#
#   h2load-grpc.sh URL REQUEST_FILE RESPONSE_BYTES CONNECTIONS STREAMS SECONDS
#
# REQUEST_FILE holds the gRPC-framed request; RESPONSE_BYTES is the size of the framed response
# message. h2load counts HTTP statuses only, and a gRPC error is a trailers-only response with no
# DATA, so DATA bytes of at least RESPONSE_BYTES × succeeded prove every response carried the
# message (check "ok"; otherwise "BAD(data=… succeeded=…)"). Responses still in flight when the
# run's time is up add DATA without counting as succeeded: at most CONNECTIONS × STREAMS of them.
# Latencies come from h2load's per-request log.
set -euo pipefail
url=$1 request=$2 response_bytes=$3 c=$4 m=$5 seconds=$6
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
h2load -D "$seconds" -c "$c" -m "$m" -t 1 -d "$request" \
  -H 'content-type: application/grpc' -H 'te: trailers' --log-file="$work/latency.log" \
  "$url" > "$work/h2load.log" 2>&1 || true
rate=$(awk '/^finished in/{gsub(",","",$4); print $4}' "$work/h2load.log")
succeeded=$(awk '/^requests:/{print $8}' "$work/h2load.log")
data=$(grep '^traffic:' "$work/h2load.log" | grep -oE '\([0-9]+\) data' | tr -dc 0-9 || true)
ok="ok"
if [ -z "$succeeded" ] || [ "$succeeded" = 0 ] || [ -z "$data" ] || [ "$data" -lt "$((succeeded * response_bytes))" ] \
   || [ "$data" -gt "$(( (succeeded + c * m) * response_bytes))" ]; then
  ok="BAD(data=${data:-none},succeeded=${succeeded:-none})"
fi
p50="-" p99="-"
awk '{print $3}' "$work/latency.log" | sort -n > "$work/sorted.log"
n=$(wc -l < "$work/sorted.log")
if [ "$n" -gt 0 ]; then
  p50=$(sed -n "$(( (n + 1) / 2 ))p" "$work/sorted.log")
  p99=$(sed -n "$(( (n * 99 + 99) / 100 ))p" "$work/sorted.log")
fi
echo "${rate:-0} $p50 $p99 $ok"

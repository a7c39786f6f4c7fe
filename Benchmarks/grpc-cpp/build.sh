#!/usr/bin/env bash
# Builds the grpc C++ baseline server and the benchmark's load client into $1 (default: a folder
# under /tmp) from the interop schemas in proto/grpc/testing, with Debian's libgrpc++-dev and
# protobuf-compiler-grpc. Rebuilds only what is older than its sources.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
proto=$here/../../proto
out=${1:-/tmp/capstan-grpc-cpp}
mkdir -p "$out/gen"
protoc -I "$proto" --cpp_out="$out/gen" --grpc_out="$out/gen" --plugin=protoc-gen-grpc="$(command -v grpc_cpp_plugin)" \
  grpc/testing/empty.proto grpc/testing/messages.proto grpc/testing/test.proto
flags=$(pkg-config --cflags --libs grpc++ protobuf)
for program in echo_server load_client; do
  if [ ! -x "$out/$program" ] || [ "$here/$program.cc" -nt "$out/$program" ] || [ "$0" -nt "$out/$program" ]; then
    # shellcheck disable=SC2086
    g++ -O2 -std=c++17 -I "$out/gen" "$here/$program.cc" "$out"/gen/grpc/testing/*.cc -o "$out/$program" $flags -lpthread
  fi
done
echo "$out/echo_server"
echo "$out/load_client"

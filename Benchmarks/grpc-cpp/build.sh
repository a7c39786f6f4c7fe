#!/usr/bin/env bash
# Builds the grpc C++ baseline server into $1 (default: a folder under /tmp) from the interop
# schemas in proto/grpc/testing, with Debian's libgrpc++-dev and protobuf-compiler-grpc.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
proto=$here/../../proto
out=${1:-/tmp/capstan-grpc-cpp}
mkdir -p "$out/gen"
protoc -I "$proto" --cpp_out="$out/gen" --grpc_out="$out/gen" --plugin=protoc-gen-grpc="$(command -v grpc_cpp_plugin)" \
  grpc/testing/empty.proto grpc/testing/messages.proto grpc/testing/test.proto
g++ -O2 -std=c++17 -I "$out/gen" "$here/echo_server.cc" "$out"/gen/grpc/testing/*.cc -o "$out/echo_server" \
  $(pkg-config --cflags --libs grpc++ protobuf) -lpthread
echo "$out/echo_server"

"""Python stubs for gRPC's interop schemas in proto/grpc/testing, made with grpcio-tools.

The schemas' package is grpc.testing, whose generated Python modules would live in a `grpc`
package and collide with grpcio's. So the files are copied under another directory
(capstan_interop/) with their imports rewritten; the proto package, and so every method path on
the wire, stays grpc.testing.
"""
import importlib
import os
import re
import shutil
import subprocess
import sys
import tempfile

_HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.normpath(os.path.join(_HERE, "..", "..", "..", "proto"))


def load():
    out = tempfile.mkdtemp(prefix="capstan-interop-stubs-")
    package_dir = os.path.join(out, "capstan_interop")
    os.makedirs(package_dir)
    names = ["empty", "messages", "test"]
    for name in names:
        with open(os.path.join(PROTO_DIR, "grpc", "testing", name + ".proto")) as f:
            text = f.read()
        text = re.sub(r'import "grpc/testing/', 'import "capstan_interop/', text)
        with open(os.path.join(package_dir, name + ".proto"), "w") as f:
            f.write(text)
    open(os.path.join(package_dir, "__init__.py"), "w").close()
    import grpc_tools
    wkt = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I", out, "-I", wkt, "--python_out=" + out,
         "--grpc_python_out=" + out] + ["capstan_interop/%s.proto" % n for n in names],
        check=True)
    sys.path.insert(0, out)
    empty = importlib.import_module("capstan_interop.empty_pb2")
    messages = importlib.import_module("capstan_interop.messages_pb2")
    test_grpc = importlib.import_module("capstan_interop.test_pb2_grpc")
    # The modules are imported and live in memory now: the generated files are not needed again.
    sys.path.remove(out)
    shutil.rmtree(out, ignore_errors=True)
    return empty, messages, test_grpc

"""Python stubs for Capstan's API and the standard services, generated from proto/ at run time.

capstan/v1 compiles as it is (Python package `capstan.v1`). The standard schemas live in the
packages grpc.* and google.rpc, whose generated modules would shadow grpcio's `grpc` and sit in
protobuf's `google` namespace; so they are copied under `capstan_std/` with their imports
rewritten. Proto package names, and with them every method path and Any type URL on the wire, stay
as they are. Nothing generated is kept: it goes to a temporary directory, removed once imported.
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

CAPSTAN = ["meta", "minion", "pod", "service", "replication_controller", "endpoints", "binding"]
STANDARD = ["google/rpc/status", "google/rpc/error_details", "grpc/health/v1/health",
            "grpc/reflection/v1/reflection", "grpc/reflection/v1alpha/reflection"]


def _well_known_include():
    """A directory holding google/protobuf/*.proto: Debian's, else the copy inside grpcio-tools."""
    if os.path.exists("/usr/include/google/protobuf/timestamp.proto"):
        return "/usr/include"
    import grpc_tools
    return os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")


class Stubs:
    """The generated modules, by short name: `pod`, `pod_grpc`, `health`, `status`, …"""

    def __init__(self, modules):
        self.__dict__.update(modules)


def load():
    out = tempfile.mkdtemp(prefix="capstan-api-stubs-")
    for name in STANDARD:
        with open(os.path.join(PROTO_DIR, name + ".proto")) as f:
            text = f.read()
        text = re.sub(r'import "(google/rpc|grpc)/', r'import "capstan_std/\1/', text)
        target = os.path.join(out, "capstan_std", name + ".proto")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w") as f:
            f.write(text)
    sources = ["capstan/v1/%s.proto" % n for n in CAPSTAN] + ["capstan_std/%s.proto" % n for n in STANDARD]
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I", out, "-I", PROTO_DIR, "-I", _well_known_include(),
         "--python_out=" + out, "--grpc_python_out=" + out] + sources,
        check=True)
    sys.path.insert(0, out)
    modules = {}
    for name in CAPSTAN:
        modules[name] = importlib.import_module("capstan.v1.%s_pb2" % name)
        modules[name + "_grpc"] = importlib.import_module("capstan.v1.%s_pb2_grpc" % name)
    modules["status"] = importlib.import_module("capstan_std.google.rpc.status_pb2")
    modules["error_details"] = importlib.import_module("capstan_std.google.rpc.error_details_pb2")
    modules["health"] = importlib.import_module("capstan_std.grpc.health.v1.health_pb2")
    modules["health_grpc"] = importlib.import_module("capstan_std.grpc.health.v1.health_pb2_grpc")
    for version in ["v1", "v1alpha"]:
        modules["reflection_" + version] = importlib.import_module(
            "capstan_std.grpc.reflection.%s.reflection_pb2" % version)
        modules["reflection_%s_grpc" % version] = importlib.import_module(
            "capstan_std.grpc.reflection.%s.reflection_pb2_grpc" % version)
    # Every module is imported and lives in memory now: the generated files are not needed again.
    sys.path.remove(out)
    shutil.rmtree(out, ignore_errors=True)
    return Stubs(modules)

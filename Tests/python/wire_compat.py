"""Checks Capstan's protobuf encoding and proto3 JSON against Python's protobuf, both ways.

usage: wire_compat.py PROTO_DIR INPUT.jsonl OUTPUT.jsonl DESCRIPTORS.json

Each input line is {"type": full name, "bytes": base64 of Capstan's encoding, "json": Capstan's JSON}.
For each, this script
  1. decodes Capstan's bytes with Python's protobuf,
  2. parses Capstan's JSON with json_format and checks it is the same message, field by field,
  3. checks Python's deterministic encoding of the message equals Capstan's bytes (except where
     maps make two valid encodings differ: see map_encoding_may_differ),
and writes {"type", "bytes": Python's encoding, "json": Python's JSON (or null where the message
holds a google.protobuf.Any, whose JSON needs a type registry)} for Capstan to decode in turn.
DESCRIPTORS.json lists the FileDescriptorProtos Capstan embeds for server reflection (base64); each
must parse and equal what protoc itself produces for that file (json_name aside, which protoc sets
only for plugins). Exit status 1 and a report on stderr if any check fails.
"""
import base64
import json
import os
import subprocess
import sys
import tempfile

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory


def load_protos(proto_dir, out_dir):
    """Compiles every schema with grpcio-tools' protoc into a pool of its own (no generated modules
    are imported, so our grpc.* schemas cannot collide with the grpcio package)."""
    files = []
    for root, _, names in os.walk(proto_dir):
        for name in names:
            if name.endswith(".proto"):
                files.append(os.path.relpath(os.path.join(root, name), proto_dir))
    import grpc_tools
    wkt = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    descriptor_set = os.path.join(out_dir, "all.pb")
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I", proto_dir, "-I", wkt, "--include_imports",
         "--descriptor_set_out=" + descriptor_set] + sorted(files),
        check=True)
    file_set = descriptor_pb2.FileDescriptorSet()
    with open(descriptor_set, "rb") as f:
        file_set.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for file_proto in file_set.file:
        pool.Add(file_proto)
    return pool, file_set


def check_descriptors(path, file_set, failures):
    by_name = {f.name: f for f in file_set.file}
    with open(path) as f:
        embedded = json.load(f)
    names = set()
    for item in embedded:
        ours = descriptor_pb2.FileDescriptorProto.FromString(base64.b64decode(item))
        names.add(ours.name)
        theirs = descriptor_pb2.FileDescriptorProto()
        theirs.CopyFrom(by_name[ours.name])
        for d in (ours, theirs):
            clear_json_names(d.message_type)
        if ours != theirs:
            failures.append(f"embedded descriptor of {ours.name} differs from protoc's")
    # The interop test schemas (grpc/testing) live in the interop program, not the main modules.
    expected = {n for n in by_name if not n.startswith("grpc/testing/")}
    if names != expected:
        failures.append(f"embedded descriptors {sorted(names)} are not the schemas {sorted(expected)}")


def clear_json_names(messages):
    for m in messages:
        for field in m.field:
            field.ClearField("json_name")
        clear_json_names(m.nested_type)


def holds_any(descriptor, seen=None):
    seen = seen if seen is not None else set()
    if descriptor.full_name == "google.protobuf.Any":
        return True
    if descriptor.full_name in seen:
        return False
    seen.add(descriptor.full_name)
    return any(f.message_type is not None and holds_any(f.message_type, seen) for f in descriptor.fields)


def map_encoding_may_differ(message):
    """True when a map (at any depth) has an entry with a default key or value, or a key that is a
    proper prefix of another. protobuf-c leaves default fields out of an entry where Python writes
    them, and Python's deterministic order puts a longer key before its prefix where we sort
    lexicographically: both encodings are valid, just not byte-identical."""
    for field, value in message.ListFields():
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            keys = [str(k) for k in value]
            if any(a != b and b.startswith(a) for a in keys for b in keys):
                return True
            for k in value:
                v = value[k]
                if not k:
                    return True
                if value_field.message_type is not None:
                    if v.ByteSize() == 0 or map_encoding_may_differ(v):
                        return True
                elif not v:
                    return True
        elif field.message_type is not None:
            items = value if field.is_repeated else [value]
            if any(map_encoding_may_differ(item) for item in items):
                return True
    return False


def main():
    proto_dir, input_path, output_path, descriptors_path = sys.argv[1:5]
    with tempfile.TemporaryDirectory() as out_dir:
        pool, file_set = load_protos(proto_dir, out_dir)
    failures = []
    check_descriptors(descriptors_path, file_set, failures)
    checked = 0
    with open(input_path) as inp, open(output_path, "w") as out:
        for number, line in enumerate(inp):
            item = json.loads(line)
            descriptor = pool.FindMessageTypeByName(item["type"])
            cls = message_factory.GetMessageClass(descriptor)
            ours = base64.b64decode(item["bytes"])
            decoded = cls.FromString(ours)
            theirs = decoded.SerializeToString(deterministic=True)
            if theirs != ours and not map_encoding_may_differ(decoded):
                failures.append(f"line {number} {item['type']}: encodings differ\n  ours:   {ours.hex()}\n  python: {theirs.hex()}")
            with_json = not holds_any(descriptor)
            if with_json:
                parsed = json_format.Parse(json.dumps(item["json"]), cls())
                if parsed != decoded:
                    failures.append(f"line {number} {item['type']}: our JSON parses to a different message\n"
                                    f"  from bytes: {decoded}\n  from JSON:  {parsed}")
            checked += 1
            out.write(json.dumps({
                "type": item["type"],
                "bytes": base64.b64encode(theirs).decode(),
                "json": json_format.MessageToDict(decoded) if with_json else None,
            }) + "\n")
    for f in failures[:20]:
        print(f, file=sys.stderr)
    print(f"{checked} messages checked, {len(failures)} failed", file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

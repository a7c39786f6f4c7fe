@testable import CapstanCodegen
import CapstanProcessSupport
import Foundation
import Testing

/// The generator's output for `Golden/golden.proto` must equal the files under
/// `Golden/expected/`. After an intended change, regenerate them with
/// `CAPSTAN_UPDATE_GOLDEN=1 swift test --filter GoldenTests` and review the diff.
@Suite struct GoldenTests {
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    /// Runs protoc to get the descriptors (with comments) and builds the request protoc would send.
    static func request(for file: String, parameter: String) async throws -> CodeGeneratorRequest {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("golden-\(UUID().uuidString).pb")
        defer { try? FileManager.default.removeItem(at: out) }
        let protoc = Subprocess()
        protoc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        protoc.arguments = [
            "protoc", "-I", golden.path, "-I", "/usr/include", "--include_imports", "--include_source_info",
            "--descriptor_set_out=\(out.path)", file,
        ]
        try await runToCompletion(protoc)
        guard protoc.terminationStatus == 0 else { throw CodegenError("protoc failed on \(file)") }
        // FileDescriptorSet.file (1) becomes CodeGeneratorRequest.proto_file (15).
        var reader = ProtoReader(Array(try Data(contentsOf: out)))
        var writer = ProtoWriter()
        writer.writeString(1, file)
        writer.writeString(2, parameter)
        while let (number, wire) = try reader.nextField() {
            guard number == 1 else { try reader.skip(wire); continue }
            writer.writeBytes(15, try reader.readBytes())
        }
        return try CodeGeneratorRequest(writer.bytes)
    }

    static func generate(parameter: String) async throws -> [(name: String, content: String)] {
        try Generator(request: try await request(for: "golden.proto", parameter: parameter)).generate()
    }

    @Test(arguments: [
        "types_module=GoldenAPI,wire_module=GoldenWire,rpc_module=GoldenRPC,services=true",
        "types_module=GoldenAPI,random_module=GoldenTests",
    ])
    func outputMatchesGoldenFiles(parameter: String) async throws {
        let update = ProcessInfo.processInfo.environment["CAPSTAN_UPDATE_GOLDEN"] == "1"
        let files = try await Self.generate(parameter: parameter)
        // Every golden file of the output's folders must still be produced.
        let expectedRoot = Self.golden.appendingPathComponent("expected")
        let folders = Set(files.map { $0.name.split(separator: "/").first.map(String.init) ?? "" })
        for folder in folders {
            let dir = expectedRoot.appendingPathComponent(folder)
            let enumerator = FileManager.default.enumerator(atPath: dir.path)
            while let relative = enumerator?.nextObject() as? String {
                let name = folder + "/" + relative
                guard relative.hasSuffix(".swift") else { continue }
                #expect(files.contains { $0.name == name }, "golden file \(name) is no longer generated")
            }
        }
        for file in files {
            let url = Self.golden.appendingPathComponent("expected").appendingPathComponent(file.name)
            if update {
                try FileManager.default.createDirectory(
                    at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try file.content.write(to: url, atomically: true, encoding: .utf8)
                continue
            }
            let expected = try? String(contentsOf: url, encoding: .utf8)
            #expect(expected != nil, "no golden file \(file.name)")
            if let expected, expected != file.content {
                let a = expected.split(separator: "\n", omittingEmptySubsequences: false)
                let b = file.content.split(separator: "\n", omittingEmptySubsequences: false)
                let line = Array(zip(a, b)).firstIndex { $0.0 != $0.1 } ?? min(a.count, b.count)
                Issue.record("""
                    \(file.name) differs from its golden file at line \(line + 1):
                      expected: \(line < a.count ? a[line] : "<end>")
                      actual:   \(line < b.count ? b[line] : "<end>")
                    """)
            }
        }
    }

    @Test func protocCNamesMatchProtocC() {
        #expect(Names.cTypeName(package: "capstan.v1", path: ["Probe", "Http"]) == "Capstan__V1__Probe__Http")
        #expect(Names.cFunctionPrefix(package: "etcd.serverpb", path: ["HTTPGetAction"]) == "etcd__serverpb__httpget_action")
        #expect(Names.cFunctionPrefix(package: "x", path: ["ABCdef_ghiJKL"]) == "x__abcdef_ghi_jkl")
        #expect(Names.cTypeName(package: "x", path: ["ABCdef_ghiJKL"]) == "X__ABCdefGhiJKL")
        #expect(Names.cFunctionPrefix(package: "x", path: ["TCPSocket2Foo"]) == "x__tcpsocket2_foo")
        #expect(Names.cFieldName("namespace") == "namespace_")
        #expect(Names.cFieldName("grantedTTL") == "grantedttl")
    }

    @Test func swiftNames() {
        #expect(Names.enumCase("RESTART_POLICY_ON_FAILURE", enumName: "RestartPolicy") == "onFailure")
        #expect(Names.enumCase("COLOR_2D", enumName: "Color") == "color2D" || Names.enumCase("COLOR_2D", enumName: "Color") == "color2d")
        #expect(Names.enumCase("NONE", enumName: "SortOrder") == "none")
        #expect(Names.lowerCamel("container_port") == "containerPort")
        #expect(Names.escaped("protocol") == "`protocol`")
        #expect(Names.escaped("name") == "name")
    }

    @Test func singularRecursionIsRejectedWithAClearError() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("golden-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "syntax = \"proto3\"; package bad; message Loop { Loop next = 1; }"
            .write(to: dir.appendingPathComponent("golden.proto"), atomically: true, encoding: .utf8)
        let saved = Self.golden
        _ = saved
        let request = try await Self.requestIn(dir: dir, file: "golden.proto")
        #expect(throws: CodegenError.self) { try Generator(request: request).generate() }
        do {
            _ = try Generator(request: request).generate()
        } catch {
            #expect("\(error)".contains("bad.Loop → .bad.Loop") || "\(error)".contains("recurses"))
        }
    }

    @Test func unknownOptionsAreRejected() throws {
        #expect(throws: CodegenError.self) { try GeneratorOptions(parameter: "colour=blue") }
        #expect(throws: CodegenError.self) { try GeneratorOptions(parameter: "services") }
    }

    static func requestIn(dir: URL, file: String) async throws -> CodeGeneratorRequest {
        let out = dir.appendingPathComponent("set.pb")
        let protoc = Subprocess()
        protoc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        protoc.arguments = ["protoc", "-I", dir.path, "--include_imports", "--descriptor_set_out=\(out.path)", file]
        try await runToCompletion(protoc)
        var reader = ProtoReader(Array(try Data(contentsOf: out)))
        var writer = ProtoWriter()
        writer.writeString(1, file)
        while let (number, wire) = try reader.nextField() {
            guard number == 1 else { try reader.skip(wire); continue }
            writer.writeBytes(15, try reader.readBytes())
        }
        return try CodeGeneratorRequest(writer.bytes)
    }
}

/// Runs a process to completion (bounded: 60 s), started through the shared spawner thread.
func runToCompletion(_ process: Subprocess) async throws {
    try await ProcessSpawner.shared.spawn(process, killedWithParent: true)
    let deadline = ContinuousClock.now.advanced(by: .seconds(60))
    while process.isRunning && ContinuousClock.now < deadline {
        try await Task.sleep(for: .milliseconds(10))
    }
    if process.isRunning {
        process.terminate()
        throw CodegenError("\(process.executableURL?.path ?? "process") did not finish within 60 s")
    }
}
